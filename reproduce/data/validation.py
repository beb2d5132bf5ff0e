"""Checking records against Kaggle's schema, with a one-line message naming the record and field.

Decisions where Kaggle's format is silent: extra fields in a record are
ignored; ``id`` must be a non-empty string; band values must be JSON numbers
(``true``/``false``, strings and ``null`` are refused, as are ``NaN`` and
``Infinity``, which Python's json would otherwise accept); ``inc_angle`` must
be a finite number or the string ``"na"``; ``is_iceberg`` must be 0 or 1
(``0.0``/``1.0`` are accepted).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from reproduce.data.messages import describe, one_line, shorten
from reproduce.data.synthetic import N_PIXELS
from reproduce.errors import DataError

#: Columns of the DataFrame, in Kaggle's field order.
COLUMNS = ("id", "band_1", "band_2", "inc_angle", "is_iceberg")


def records_to_frame(records: Any, source: str = "records") -> pd.DataFrame:
    """Check parsed records against Kaggle's schema and build the DataFrame.

    Args:
        records: what ``json.load`` returns for a ``train.json`` -- a list of
            dicts. Bands may also be 1-D numpy arrays, and ``inc_angle`` NaN
            or None for ``"na"`` is accepted only via :func:`reproduce.data.writing.write_train_json`.
        source: name used in error messages (usually the file name).

    Returns:
        The DataFrame described in :func:`reproduce.data.loading.load_train_json`.

    Raises:
        DataError: naming ``source``, the record and the field.
    """
    if not isinstance(records, list):
        raise DataError(
            f"{source}: expected a JSON list of records at the top level, found {describe(records)}"
        )
    if not records:
        raise DataError(f"{source}: the list of records is empty, expected at least one record")
    n = len(records)
    ids: list[str] = []
    band_1 = np.empty((n, N_PIXELS), dtype=np.float64)
    band_2 = np.empty((n, N_PIXELS), dtype=np.float64)
    inc_angle = np.empty(n, dtype=np.float64)
    is_iceberg = np.empty(n, dtype=np.int64)
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise DataError(
                f"{source}: record {index}: expected a JSON object, found {describe(record)}"
            )
        where = f"{source}: record {index}"
        raw_id = record.get("id")
        if isinstance(raw_id, str) and raw_id:
            where += f" (id {shorten(repr(raw_id), 40)})"
        missing = [field for field in COLUMNS if field not in record]
        if missing:
            fields = ", ".join(f"'{field}'" for field in missing)
            raise DataError(f"{where}: missing field {fields}; a record needs {', '.join(COLUMNS)}")
        if not (isinstance(raw_id, str) and raw_id):
            raise DataError(
                f"{where}: field 'id': expected a non-empty string, found {describe(raw_id)}"
            )
        ids.append(raw_id)
        band_1[index] = _check_band(record["band_1"], where, "band_1")
        band_2[index] = _check_band(record["band_2"], where, "band_2")
        inc_angle[index] = _check_angle(record["inc_angle"], where)
        is_iceberg[index] = _check_label(record["is_iceberg"], where)
    _check_unique_ids(ids, source)
    return pd.DataFrame(
        {
            "id": ids,
            "band_1": list(band_1),
            "band_2": list(band_2),
            "inc_angle": inc_angle,
            "is_iceberg": is_iceberg,
        }
    )


_EXPECTED_BAND = f"expected a list of {N_PIXELS} finite numbers (75 x 75 dB values)"


def _check_band(value: Any, where: str, field: str) -> np.ndarray:
    if isinstance(value, np.ndarray):
        if value.ndim != 1 or value.dtype.kind not in "fiu":
            raise DataError(
                f"{where}: field '{field}': {_EXPECTED_BAND}, found an array {value.dtype}{list(value.shape)}"
            )
        if value.shape[0] != N_PIXELS:
            raise DataError(
                f"{where}: field '{field}': {_EXPECTED_BAND}, found {value.shape[0]} values"
            )
        array = value.astype(np.float64)
    elif isinstance(value, list):
        if len(value) != N_PIXELS:
            raise DataError(
                f"{where}: field '{field}': {_EXPECTED_BAND}, found {len(value)} values"
            )
        # Fast path: JSON numbers come back as exactly float or int.
        if not set(map(type, value)) <= {float, int}:
            for position, item in enumerate(value):
                if not _is_number(item):
                    raise DataError(
                        f"{where}: field '{field}': value {position} is {describe(item)}, {_EXPECTED_BAND}"
                    )
        try:
            array = np.array(value, dtype=np.float64)
        except (OverflowError, ValueError, TypeError) as err:
            raise DataError(f"{where}: field '{field}': {_EXPECTED_BAND}; {one_line(err)}") from err
    else:
        raise DataError(f"{where}: field '{field}': {_EXPECTED_BAND}, found {describe(value)}")
    finite = np.isfinite(array)
    if not finite.all():
        position = int(np.argmin(finite))
        raise DataError(
            f"{where}: field '{field}': value {position} is {float(array[position])!r}, {_EXPECTED_BAND}"
        )
    return array


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _check_angle(value: Any, where: str) -> float:
    if isinstance(value, str) and value == "na":
        return math.nan
    if _is_number(value):
        try:
            angle = float(value)
        except OverflowError:
            angle = math.inf
        if math.isfinite(angle):
            return angle
    raise DataError(
        f"{where}: field 'inc_angle': expected a finite number (degrees) or \"na\", found {describe(value)}"
    )


def _check_label(value: Any, where: str) -> int:
    if _is_number(value) and value in (0, 1):
        return int(value)
    raise DataError(
        f"{where}: field 'is_iceberg': expected 0 (ship) or 1 (iceberg), found {describe(value)}"
    )


def _check_unique_ids(ids: list[str], source: str) -> None:
    duplicated = pd.Index(ids).duplicated()
    if duplicated.any():
        second = int(np.argmax(duplicated))
        first = ids.index(ids[second])
        raise DataError(
            f"{source}: records {first} and {second} share the id {shorten(repr(ids[second]), 40)}; "
            "ids must be unique"
        )
