"""The iceberg data: Kaggle's ``train.json`` when present, else a generated stand-in. Every failure
to read or check a file is a :class:`reproduce.errors.DataError` whose one-line message names the
file, the record and the field."""

from reproduce.data.reading import load_train_json
from reproduce.data.source import ENV_VAR, DataSource, resolve_data, stand_in_json_bytes
from reproduce.data.synthetic import synthetic_arrays, synthetic_train
from reproduce.data.writing import write_train_json

__all__ = ["ENV_VAR", "DataSource", "load_train_json", "resolve_data", "stand_in_json_bytes",
           "synthetic_arrays", "synthetic_train", "write_train_json"]  # fmt: skip
