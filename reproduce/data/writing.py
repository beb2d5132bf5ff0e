"""Writing records as Kaggle's ``train.json``: the bytes ``json.dumps`` would give, atomically."""

from __future__ import annotations

import hashlib
import json
import math
import os

import numpy as np
import pandas as pd

from reproduce.atomic import atomic_write_bytes
from reproduce.data.records import records_to_frame

# Rows formatted at once by the vectorised number formatter (bounds memory).
_CHUNK_ROWS = 128


def train_json_bytes(records: list[dict] | pd.DataFrame) -> bytes:
    """``json.dumps(records, separators=(",", ":"))`` of checked records, only faster.

    Args:
        records: Kaggle records (bands as lists or arrays; ``inc_angle`` ``"na"``, NaN or None
            when missing), or a DataFrame from :func:`reproduce.data.load_train_json`. Only the
            five fields are written, in Kaggle's order, so the bytes read back to the same floats.

    Raises:
        DataError: the records do not follow the schema.
    """
    if isinstance(records, pd.DataFrame):
        records = records.to_dict("records")
    if isinstance(records, list):
        records = [_missing_angle_as_na(record) for record in records]
    frame = records_to_frame(records, "records to write")
    return json_bytes(
        frame["id"].tolist(),
        np.stack(frame["band_1"].to_numpy()),
        np.stack(frame["band_2"].to_numpy()),
        frame["inc_angle"].to_numpy(),
        frame["is_iceberg"].to_numpy(),
    )


def _missing_angle_as_na(record):
    angle = record.get("inc_angle", "") if isinstance(record, dict) else ""
    if angle is None or (isinstance(angle, (float, np.floating)) and math.isnan(angle)):
        return {**record, "inc_angle": "na"}
    return record


def write_train_json(records: list[dict] | pd.DataFrame, path: str | os.PathLike) -> str:
    """Write :func:`train_json_bytes` to ``path`` atomically and return their sha256 (hex)."""
    data = train_json_bytes(records)
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def json_bytes(ids, band_1, band_2, inc_angle, is_iceberg) -> bytes:
    """The ``train.json`` bytes of records held as columns (NaN angle for ``"na"``), unchecked."""
    rows_1, rows_2 = _format_rows(band_1), _format_rows(band_2)
    parts = [
        b'{"id":%s,"band_1":%s,"band_2":%s,"inc_angle":%s,"is_iceberg":%d}'
        % (
            json.dumps(record_id).encode(),
            rows_1[i],
            rows_2[i],
            b'"na"' if math.isnan(inc_angle[i]) else repr(float(inc_angle[i])).encode(),
            int(is_iceberg[i]),
        )
        for i, record_id in enumerate(ids)
    ]
    return b"[" + b",".join(parts) + b"]"


def _format_rows(matrix: np.ndarray) -> list[bytes]:
    """JSON text of each row of a float64 matrix, as ``json.dumps`` writes it.

    Rows of multiples of 1e-4 (Kaggle's values and the stand-in's) are formatted with integer
    arithmetic: ``repr`` writes such a float as its shortest decimal, at most four decimals.
    """
    rows: list[bytes] = []
    for start in range(0, matrix.shape[0], _CHUNK_ROWS):
        chunk = matrix[start : start + _CHUNK_ROWS]
        with np.errstate(over="ignore", invalid="ignore"):  # huge values take the slow path
            scaled = np.rint(chunk * 1e4)
        negative_zero = (chunk == 0) & np.signbit(chunk)
        fast = ((scaled / 1e4 == chunk) & (np.abs(scaled) < 1e15) & ~negative_zero).all(axis=1)
        fast_text = iter(_format_fixed4(scaled[fast].astype(np.int64)) if fast.any() else [])
        for row, is_fast in zip(chunk, fast):
            slow = json.dumps(row.tolist(), separators=(",", ":")) if not is_fast else ""
            rows.append(next(fast_text) if is_fast else slow.encode())
    return rows


def _format_fixed4(k: np.ndarray) -> list[bytes]:
    """``[a,b,...]`` of each row of integers ``k``, each value written as ``repr(k / 10**4)``."""
    integer, fraction = np.divmod(np.abs(k), 10_000)
    powers = range(
        len(str(int(integer.max()))) - 1, -1, -1
    )  # integer digits, most significant first
    # repr keeps one decimal at least and drops the other trailing zeros ("3.0", "-5.1").
    n_decimals = 4 - sum((fraction % 10**p == 0).astype(int) for p in (1, 2, 3))
    always = np.ones_like(k, dtype=bool)
    columns = [(ord("-"), k < 0)]
    columns += [(ord("0") + integer // 10**p % 10, (integer >= 10**p) | (p == 0)) for p in powers]
    columns += [(ord("."), always)]
    columns += [(ord("0") + fraction // 10 ** (3 - d) % 10, n_decimals > d) for d in range(4)]
    columns += [(ord(","), always)]
    chars = np.stack([np.broadcast_to(c, k.shape) for c, _ in columns], axis=-1).astype(np.uint8)
    keep = np.stack([kept for _, kept in columns], axis=-1)
    keep[:, -1, -1] = False  # no comma after a row's last value
    flat, ends = chars[keep].tobytes(), np.cumsum(keep.sum(axis=(1, 2)))
    return [b"[" + flat[a:b] + b"]" for a, b in zip(np.concatenate([[0], ends[:-1]]), ends)]
