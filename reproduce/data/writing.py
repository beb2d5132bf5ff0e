"""Writing records as Kaggle's ``train.json``: the exact bytes, written atomically."""

from __future__ import annotations

import hashlib
import json
import math
import os
from typing import Any

import numpy as np
import pandas as pd

from reproduce.atomic import atomic_write_bytes
from reproduce.data.validation import records_to_frame

# Rows formatted at once by the vectorised number formatter (bounds memory).
_FORMAT_CHUNK_ROWS = 128


def train_json_bytes(records: list[dict] | pd.DataFrame) -> bytes:
    """The exact bytes :func:`write_train_json` writes for ``records``.

    The records are checked as :func:`reproduce.data.loading.load_train_json` checks a file, then
    written in Kaggle's schema and field order, without spaces
    (``separators=(",", ":")``), angles ``"na"`` where missing; numbers as
    Python's ``repr`` writes them, so reading the bytes back gives the same
    float64 values. Equal to ``json.dumps(records, separators=(",", ":"))``
    for records that hold exactly the five fields in that order with Python
    values (as :func:`reproduce.data.synthetic.synthetic_train` returns), only
    faster. Other fields are not written.

    Args:
        records: a list of Kaggle records (bands as lists or 1-D arrays;
            ``inc_angle`` ``"na"``, NaN or None when missing), or a DataFrame
            as returned by :func:`reproduce.data.loading.load_train_json`.

    Raises:
        DataError: the records do not follow the schema.
    """
    if isinstance(records, pd.DataFrame):
        records = records.to_dict("records")
    if isinstance(records, list):
        records = [_missing_angle_as_na(record) for record in records]
    frame = records_to_frame(records, "records to write")
    return frame_to_json(
        frame["id"].tolist(),
        np.stack(frame["band_1"].to_numpy()),
        np.stack(frame["band_2"].to_numpy()),
        frame["inc_angle"].to_numpy(),
        frame["is_iceberg"].to_numpy(),
    )


def _missing_angle_as_na(record: Any) -> Any:
    if isinstance(record, dict) and "inc_angle" in record:
        angle = record["inc_angle"]
        if angle is None or (isinstance(angle, (float, np.floating)) and math.isnan(angle)):
            return {**record, "inc_angle": "na"}
    return record


def write_train_json(records: list[dict] | pd.DataFrame, path: str | os.PathLike) -> str:
    """Write records as a Kaggle ``train.json``, atomically.

    The bytes are those of :func:`train_json_bytes`. They go to a temporary
    file in the same directory, which then replaces ``path`` in one step, so
    a crash leaves either the old file or the new one, never half a file.

    Args:
        records: see :func:`train_json_bytes`.
        path: the file to write; its directory must exist.

    Returns:
        The sha256 (hex) of the bytes written.

    Raises:
        DataError: the records do not follow the schema.
        OSError: the file cannot be written.
    """
    data = train_json_bytes(records)
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def frame_to_json(ids, band_1, band_2, inc_angle, is_iceberg) -> bytes:
    rows_1 = _format_rows(band_1)
    rows_2 = _format_rows(band_2)
    parts = []
    for index, record_id in enumerate(ids):
        angle = inc_angle[index]
        parts.append(
            b'{"id":'
            + json.dumps(record_id).encode()
            + b',"band_1":'
            + rows_1[index]
            + b',"band_2":'
            + rows_2[index]
            + b',"inc_angle":'
            + (b'"na"' if math.isnan(angle) else repr(float(angle)).encode())
            + b',"is_iceberg":'
            + str(int(is_iceberg[index])).encode()
            + b"}"
        )
    return b"[" + b",".join(parts) + b"]"


def _format_rows(matrix: np.ndarray) -> list[bytes]:
    """JSON text of each row of a float64 matrix, as ``json.dumps`` writes it.

    Values that are multiples of 1e-4 (what Kaggle's file and the stand-in
    hold) are formatted with vectorised integer arithmetic; Python's float
    ``repr`` writes such a value as its shortest decimal, which has at most
    four decimals, so the text is identical. Other rows use ``json.dumps``.
    """
    rows: list[bytes] = []
    for start in range(0, matrix.shape[0], _FORMAT_CHUNK_ROWS):
        chunk = matrix[start : start + _FORMAT_CHUNK_ROWS]
        with np.errstate(over="ignore", invalid="ignore"):  # huge values take the slow path
            scaled = np.rint(chunk * 1e4)
        exact = (
            (scaled / 1e4 == chunk) & (np.abs(scaled) < 1e15) & ~((chunk == 0) & np.signbit(chunk))
        )
        fast_rows = exact.all(axis=1)
        fast_text = _format_fixed4(scaled[fast_rows].astype(np.int64)) if fast_rows.any() else []
        fast_iter = iter(fast_text)
        for row, fast in zip(chunk, fast_rows):
            if fast:
                rows.append(next(fast_iter))
            else:
                rows.append(
                    json.dumps(row.tolist(), separators=(",", ":"), allow_nan=False).encode()
                )
    return rows


def _format_fixed4(tenthousandths: np.ndarray) -> list[bytes]:
    """``[a,b,...]`` for each row of integers k, each written as k / 10**4.

    Trailing zeros of the fraction are dropped but one digit is kept
    ("-27.8784", "-5.1", "3.0"), as ``repr`` does for such floats.
    """
    rows, columns = tenthousandths.shape
    negative = tenthousandths < 0
    magnitude = np.abs(tenthousandths)
    integer, fraction = np.divmod(magnitude, 10_000)
    n_int = max(1, len(str(int(integer.max()))))
    int_length = 1 + sum((integer >= 10**d).astype(np.int64) for d in range(1, n_int))
    frac_length = np.where(
        fraction % 1000 == 0,
        1,
        np.where(fraction % 100 == 0, 2, np.where(fraction % 10 == 0, 3, 4)),
    )
    width = 1 + n_int + 1 + 4 + 1  # sign, integer digits, point, fraction, separator
    chars = np.empty((rows, columns, width), dtype=np.uint8)
    keep = np.ones((rows, columns, width), dtype=bool)
    chars[..., 0] = ord("-")
    keep[..., 0] = negative
    for d in range(n_int):  # most significant first, right-aligned
        column = 1 + d
        power = n_int - 1 - d
        chars[..., column] = ord("0") + (integer // 10**power) % 10
        keep[..., column] = int_length > power
    chars[..., 1 + n_int] = ord(".")
    for d in range(4):
        column = 2 + n_int + d
        chars[..., column] = ord("0") + (fraction // 10 ** (3 - d)) % 10
        keep[..., column] = frac_length > d
    chars[..., -1] = ord(",")
    keep[:, -1, -1] = False
    lengths = keep.sum(axis=(1, 2))
    flat = chars[keep].tobytes()
    out, offset = [], 0
    for length in lengths:
        out.append(b"[" + flat[offset : offset + length] + b"]")
        offset += int(length)
    return out
