"""Writing records as Kaggle's ``train.json``: the bytes ``json.dumps`` would give, atomically."""

import hashlib
import json
import math
import os

import numpy as np
import pandas as pd

from reproduce.atomic import atomic_write_bytes
from reproduce.data.records import records_to_frame


def write_train_json(records: list[dict] | pd.DataFrame, path: str | os.PathLike) -> str:
    """Write records (checked as a file is) or a frame as ``json.dumps(records, separators=(",",
    ":"))`` of Kaggle's five fields in its order, atomically; return the bytes' sha256."""
    if not isinstance(records, pd.DataFrame):
        records = records_to_frame(records, "records to write")
    atomic_write_bytes(path, data := json_bytes(records))
    return hashlib.sha256(data).hexdigest()


def json_bytes(columns) -> bytes:
    """The ``train.json`` bytes of columns (a frame or the stand-in's arrays), unchecked."""
    rows_1, rows_2 = (_format_rows(np.stack(list(columns[band]))) for band in ("band_1", "band_2"))
    angles = [b'"na"' if math.isnan(a) else repr(float(a)).encode() for a in columns["inc_angle"]]
    ids = [json.dumps(record_id).encode() for record_id in columns["id"]]
    record = b'{"id":%s,"band_1":%s,"band_2":%s,"inc_angle":%s,"is_iceberg":%d}'
    fields = zip(ids, rows_1, rows_2, angles, columns["is_iceberg"])
    return b"[" + b",".join(record % values for values in fields) + b"]"


def _format_rows(matrix: np.ndarray) -> list[bytes]:
    """Each row of a float64 matrix as JSON, each distinct value ``repr``-ed once (as json does)."""
    values, inverse = _distinct(np.ascontiguousarray(matrix, dtype=np.float64))
    text = np.array([repr(value) + "," for value in values.tolist()], dtype="S")
    chars = text[inverse].view(np.uint8).reshape(*matrix.shape, -1)  # padded with zero bytes
    keep = chars != 0
    ends, flat = np.cumsum(keep.sum(axis=(1, 2))), chars[keep].tobytes()
    return [b"[" + flat[start : end - 1] + b"]" for start, end in zip([0, *ends[:-1]], ends)]


def _distinct(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values (-0.0 apart from 0.0) and the index of each element among them."""
    with np.errstate(over="ignore", invalid="ignore"):
        k = np.rint(matrix * 1e4)
    negative_zero = (matrix == 0) & np.signbit(matrix)
    in_table = k.size and (k / 1e4 == matrix).all() and np.abs(k).max() <= _K_MAX
    if not in_table or negative_zero.any():
        bits, inverse = np.unique(matrix.view(np.int64), return_inverse=True)
        return bits.view(np.float64), inverse.reshape(matrix.shape)
    # Multiples of 1e-4 up to +-1000 dB (Kaggle's values): a table instead of a slow sort.
    k, present = (k + _K_MAX).astype(np.int64), np.zeros(2 * _K_MAX + 1, dtype=bool)
    present[k] = True
    codes, position = np.flatnonzero(present), np.zeros(2 * _K_MAX + 1, dtype=np.int64)
    position[codes] = np.arange(len(codes))
    return (codes - _K_MAX) / 1e4, position[k]


_K_MAX = 10**7
