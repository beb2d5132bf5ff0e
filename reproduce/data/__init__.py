"""The iceberg data: Kaggle's ``train.json`` when present, else a generated stand-in.

Every failure to read or check a file is a :class:`reproduce.errors.DataError` whose one-line
message names the file, the record and the field.
"""

from reproduce.data.reading import load_train_json as load_train_json
from reproduce.data.source import ENV_VAR as ENV_VAR
from reproduce.data.source import DataSource as DataSource
from reproduce.data.source import resolve_data as resolve_data
from reproduce.data.source import stand_in_json_bytes as stand_in_json_bytes
from reproduce.data.synthetic import synthetic_arrays as synthetic_arrays
from reproduce.data.synthetic import synthetic_train as synthetic_train
from reproduce.data.writing import write_train_json as write_train_json
