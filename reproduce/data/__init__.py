"""The iceberg data: Kaggle's ``train.json`` when present, else a generated stand-in.

Every failure to read or check a file is a :class:`reproduce.errors.DataError` whose one-line
message names the file, the record and the field.
"""

from reproduce.data.reading import load_train_json
from reproduce.data.records import COLUMNS, N_PIXELS, records_to_frame
from reproduce.data.source import (
    DEFAULT_PATHS,
    ENV_VAR,
    STAND_IN_N,
    STAND_IN_SEED,
    DataSource,
    resolve_data,
    stand_in_json_bytes,
)
from reproduce.data.synthetic import synthetic_arrays, synthetic_train
from reproduce.data.writing import train_json_bytes, write_train_json

__all__ = [
    "COLUMNS",
    "DEFAULT_PATHS",
    "ENV_VAR",
    "N_PIXELS",
    "STAND_IN_N",
    "STAND_IN_SEED",
    "DataSource",
    "load_train_json",
    "records_to_frame",
    "resolve_data",
    "stand_in_json_bytes",
    "synthetic_arrays",
    "synthetic_train",
    "train_json_bytes",
    "write_train_json",
]
