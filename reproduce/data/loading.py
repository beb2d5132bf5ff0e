"""Reading Kaggle's ``train.json`` (also ``train.json.7z`` as Kaggle ships it).

A 7z archive is recognised by its signature, not its name; it must hold one
``.json`` file, or several of which one is called ``train.json``. Every failure
is a :class:`reproduce.errors.DataError` with a one-line message.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from reproduce.data.messages import one_line, shorten
from reproduce.data.validation import records_to_frame
from reproduce.errors import DataError

_SEVEN_ZIP_SIGNATURE = b"7z\xbc\xaf\x27\x1c"
# Decompressed members are held in memory; this only guards against absurd sizes.
_MAX_MEMBER_BYTES = 8 * 1024**3


def load_train_json(path: str | os.PathLike) -> pd.DataFrame:
    """Read and check Kaggle's ``train.json`` (or ``train.json.7z``).

    Args:
        path: the JSON file, or a 7z archive holding it.

    Returns:
        DataFrame with columns ``id`` (str), ``band_1`` and ``band_2``
        (float64 numpy arrays of 5625 dB values, row-major 75 x 75, as in the
        file), ``inc_angle`` (float, NaN where the file says ``"na"``) and
        ``is_iceberg`` (int 0/1), one row per record in file order.

    Raises:
        DataError: the file is missing or unreadable, or does not follow the
            schema; the message names the file, record and field.
    """
    frame, _ = load_with_sha256(path)
    return frame


def load_with_sha256(path: str | os.PathLike) -> tuple[pd.DataFrame, str]:
    """:func:`load_train_json`, and the sha256 (hex) of the bytes read (of the archive for a .7z)."""
    path = _as_path(path)
    raw = _read_bytes(path)
    sha256 = hashlib.sha256(raw).hexdigest()
    label = str(path)
    if raw.startswith(_SEVEN_ZIP_SIGNATURE):
        member, raw = _unpack_7z(path, raw)
        label = f"{path} (member {member})"
    elif path.name.lower().endswith(".7z"):
        raise DataError(f"{path}: not a 7z archive (its first bytes are not the 7z signature)")
    records = _parse_json(label, raw)
    del raw  # the parsed records take several times its size: free what we can
    return records_to_frame(records, label), sha256


def _as_path(path: Any) -> Path:
    try:
        return Path(path)
    except TypeError as err:
        raise DataError(f"data path must be a file name, got {path!r}") from err


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as err:
        raise DataError(f"{path}: file not found") from err
    except IsADirectoryError as err:
        raise DataError(f"{path}: is a directory, expected a train.json file") from err
    except OSError as err:
        raise DataError(f"{path}: cannot read: {err.strerror or err}") from err
    except ValueError as err:  # e.g. a NUL character in the name
        raise DataError(f"{path!r}: not a usable file name: {one_line(err)}") from err


def _unpack_7z(path: Path, raw: bytes) -> tuple[str, bytes]:
    """The ``.json`` member of a 7z archive: (its name, its bytes)."""
    import py7zr  # only needed for archives

    try:
        with py7zr.SevenZipFile(io.BytesIO(raw)) as archive:
            infos = [info for info in archive.list() if not info.is_directory]
            candidates = [info for info in infos if info.filename.lower().endswith(".json")]
            if len(candidates) > 1:
                named = [c for c in candidates if Path(c.filename).name.lower() == "train.json"]
                candidates = named if len(named) == 1 else candidates
            if len(candidates) != 1:
                names = ", ".join(info.filename for info in infos) or "nothing"
                what = "no .json file" if not candidates else "several .json files"
                raise DataError(
                    f"{path}: the 7z archive holds {what} (it holds: {shorten(names, 200)}); "
                    "expected exactly one .json file, or one called train.json"
                )
            member = candidates[0]
            if member.uncompressed is not None and member.uncompressed > _MAX_MEMBER_BYTES:
                raise DataError(
                    f"{path}: {member.filename} is {member.uncompressed} bytes unpacked, too large"
                )
            factory = py7zr.io.BytesIOFactory(_MAX_MEMBER_BYTES)
            archive.extract(targets=[member.filename], factory=factory)
            product = factory.get(member.filename)
            product.seek(0)
            return member.filename, product.read()
    except DataError:
        raise
    except Exception as err:  # py7zr raises many kinds on a damaged archive
        raise DataError(f"{path}: cannot unpack the 7z archive: {one_line(err)}") from err


def _parse_json(label: str, raw: bytes) -> Any:
    if not raw.strip():
        raise DataError(f"{label}: the file is empty, expected a JSON list of records")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as err:
        ending = " -- the file ends early (truncated?)" if _looks_truncated(err) else ""
        raise DataError(
            f"{label}: not valid JSON: {err.msg} at line {err.lineno}, column {err.colno} "
            f"(character {err.pos}){ending}"
        ) from err
    except UnicodeDecodeError as err:
        raise DataError(f"{label}: not valid JSON: not UTF-8 text (byte {err.start})") from err
    except RecursionError as err:
        raise DataError(f"{label}: not valid JSON for this schema: nested too deeply") from err
    except ValueError as err:  # e.g. an integer with more digits than Python converts
        raise DataError(f"{label}: not valid JSON: {one_line(err)}") from err


def _looks_truncated(err: json.JSONDecodeError) -> bool:
    """The parser ran out of input: the document stops before it is complete.

    Either the error is at the very end of the text (a value, a comma or a
    closing bracket was still expected), or a string that starts at the error
    never ends. Invalid text elsewhere, however short the file, is not called
    truncated.
    """
    text = err.doc.rstrip() if isinstance(err.doc, str) else ""
    if err.msg.startswith("Unterminated string"):
        return '"' not in text[err.pos + 1 :]
    if err.msg.startswith("Extra data"):
        return False
    # What follows the error is nothing, or the beginning of a number or literal cut short.
    rest = text[err.pos :]
    return bool(_PARTIAL_NUMBER.fullmatch(rest)) or any(w.startswith(rest) for w in _LITERALS)


# A number cut anywhere ("2.", "1e", "-"), and the literals Python's json reads.
_PARTIAL_NUMBER = re.compile(r"-?\d*(\.\d*)?([eE][+-]?\d*)?")
_LITERALS = ("true", "false", "null", "NaN", "Infinity", "-Infinity")
