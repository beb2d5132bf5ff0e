"""Checking parsed records against Kaggle's schema, with one-line errors naming record and field."""

import json
import math
from typing import Any

import numpy as np
import pandas as pd

from reproduce.errors import DataError

#: Columns of the DataFrame, in Kaggle's field order.
COLUMNS = ("id", "band_1", "band_2", "inc_angle", "is_iceberg")
N_PIXELS = 75 * 75
# Radar backscatter lies within tens of dB; a pixel far outside is a broken file, and would
# silently scale every other pixel to about 0 in the dense script.
MAX_ABS_DB = 1000.0
_EXPECTED_BAND = (
    f"expected a list of {N_PIXELS} finite numbers (75 x 75 dB values, |value| <= 1000)"
)


def records_to_frame(records: Any, source: str = "records") -> pd.DataFrame:
    """Check what ``json.load`` returned for a ``train.json`` (a list of dicts; bands may be 1-D
    arrays; extra fields ignored), naming ``source`` in errors. Columns ``id`` (str), ``band_1``,
    ``band_2`` (float64 arrays of 5625 dB values, row-major 75 x 75), ``inc_angle`` (float, NaN
    for ``"na"``), ``is_iceberg`` (int64 0/1)."""
    if not isinstance(records, list):
        raise DataError(
            f"{source}: expected a JSON list of records at the top level, found {in_words(records)}"
        )
    if not records:
        raise DataError(f"{source}: the list of records is empty, expected at least one record")
    columns: dict[str, list] = {name: [] for name in COLUMNS}
    first_index: dict[str, int] = {}
    for index, record in enumerate(records):  # one record at a time: nothing sized by len(records)
        where = f"{source}: record {index}"
        if not isinstance(record, dict):
            raise DataError(f"{where}: expected a JSON object, found {in_words(record)}")
        record_id = record.get("id")
        if isinstance(record_id, str) and record_id:
            where += f" (id {shorten(repr(record_id), 40)})"
        missing = ", ".join(f"'{field}'" for field in COLUMNS if field not in record)
        if missing:
            raise DataError(
                f"{where}: missing field {missing}; a record needs {', '.join(COLUMNS)}"
            )
        if not (isinstance(record_id, str) and record_id):
            raise DataError(
                f"{where}: field 'id': expected a non-empty string, found {in_words(record_id)}"
            )
        if record_id in first_index:
            raise DataError(f"{source}: records {first_index[record_id]} and {index} share the id "
                            f"{shorten(repr(record_id), 40)}; ids must be unique")  # fmt: skip
        first_index[record_id] = index
        columns["id"].append(record_id)
        columns["band_1"].append(_band(record["band_1"], where, "band_1"))
        columns["band_2"].append(_band(record["band_2"], where, "band_2"))
        columns["inc_angle"].append(_angle(record["inc_angle"], where))
        columns["is_iceberg"].append(_label(record["is_iceberg"], where))
    return pd.DataFrame(columns).astype({"inc_angle": np.float64, "is_iceberg": np.int64})


def _band(value: Any, where: str, field: str) -> np.ndarray:
    prefix = f"{where}: field '{field}'"
    if isinstance(value, np.ndarray):  # records built in Python: checked as their JSON would be
        value = value.tolist()
    if not isinstance(value, list):
        raise DataError(f"{prefix}: {_EXPECTED_BAND}, found {in_words(value)}")
    if len(value) != N_PIXELS:
        raise DataError(f"{prefix}: {_EXPECTED_BAND}, found {len(value)} values")
    if not set(map(type, value)) <= {float, int}:  # JSON numbers are exactly these
        for position, item in enumerate(value):
            if not _is_number(item):
                raise DataError(f"{prefix}: value {position} is {in_words(item)}, {_EXPECTED_BAND}")
    try:
        array = np.array(value, dtype=np.float64)
    except (OverflowError, ValueError, TypeError) as err:
        raise DataError(f"{prefix}: {_EXPECTED_BAND}; {one_line(err)}") from err
    plausible = np.abs(array) <= MAX_ABS_DB  # False for NaN too
    if not plausible.all():
        position = int(np.argmin(plausible))
        raise DataError(
            f"{prefix}: value {position} is {float(array[position])!r}, {_EXPECTED_BAND}"
        )
    return array


_BOOLS, _NUMBERS = (bool, np.bool_), (int, float, np.integer, np.floating)


def _is_number(value: Any) -> bool:
    return isinstance(value, _NUMBERS) and not isinstance(value, _BOOLS)


def _angle(value: Any, where: str) -> float:
    if isinstance(value, str) and value == "na":
        return math.nan
    if _is_number(value):
        try:
            if math.isfinite(angle := float(value)):
                return angle
        except OverflowError:
            pass
    raise DataError(
        f"{where}: field 'inc_angle': expected a finite number (degrees) or \"na\", found {in_words(value)}"
    )


def _label(value: Any, where: str) -> int:
    if _is_number(value) and value in (0, 1):
        return int(value)
    raise DataError(
        f"{where}: field 'is_iceberg': expected 0 (ship) or 1 (iceberg), found {in_words(value)}"
    )


def in_words(value: Any) -> str:
    """A JSON value in a few words, on one line, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, _BOOLS):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the string {shorten(json.dumps(value), 40)}"
    if isinstance(value, (int, np.integer)):
        return f"the number {shorten(str(value), 40)}"
    if isinstance(value, (float, np.floating)):
        return f"the number {float(value)!r}"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    if isinstance(value, dict):
        # JSON-quoted so that keys holding newlines or quotes stay on one line.
        keys = ", ".join(json.dumps(str(key)) for key in list(value)[:5])
        return f"an object with keys [{shorten(keys, 60)}]" if value else "an empty object"
    return f"a {type(value).__name__}"


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(err: BaseException) -> str:
    return shorten(" ".join(str(err).split()) or type(err).__name__, 200)
