"""Reading Kaggle's ``train.json``, or ``train.json.7z`` as Kaggle ships it (told by its signature)."""

import hashlib
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from reproduce.data.records import one_line, records_to_frame, shorten
from reproduce.errors import DataError

_SEVEN_ZIP_SIGNATURE = b"7z\xbc\xaf\x27\x1c"
# Kaggle's train.json is about 0.2 GB; more is not this data, and /dev/zero would fill memory.
MAX_BYTES = 256 * 1024**2


def load_train_json(path: str | os.PathLike) -> pd.DataFrame:
    """Kaggle's ``train.json`` (or a 7z archive of it) as a checked frame; DataError if not."""
    return load_with_sha256(path)[0]


def load_with_sha256(path: str | os.PathLike) -> tuple[pd.DataFrame, str]:
    """:func:`load_train_json`, and the sha256 of the bytes read (of the archive for a .7z)."""
    try:
        path = Path(path)
    except TypeError as err:
        raise DataError(f"data path must be a file name, got {path!r}") from err
    raw = _read_capped(path)
    sha256, label = hashlib.sha256(raw).hexdigest(), str(path)
    if raw.startswith(_SEVEN_ZIP_SIGNATURE):
        label, raw = _unpack_7z(path, raw)
    elif path.name.lower().endswith(".7z"):
        raise DataError(f"{path}: not a 7z archive (its first bytes are not the 7z signature)")
    records = _parse_json(label, raw)
    del raw  # the parsed records take several times its size
    return records_to_frame(records, label), sha256


def _too_large(label) -> DataError:
    return DataError(f"{label}: larger than {MAX_BYTES} bytes; Kaggle's train.json is 0.2 GB")


def _read_capped(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size  # a plain file's; 0 for a device or pipe
            raw = b"" if size > MAX_BYTES else handle.read(MAX_BYTES + 1)  # stops past the cap
    except OSError as err:
        why = {FileNotFoundError: "file not found", IsADirectoryError: "is a directory"}
        what = why.get(type(err), f"cannot read: {err.strerror or err}")
        raise DataError(f"{path}: {what}, expected a train.json file") from err
    except ValueError as err:  # e.g. a NUL character in the name
        raise DataError(f"{path!r}: not a usable file name: {one_line(err)}") from err
    if max(size, len(raw)) > MAX_BYTES:
        raise _too_large(path)
    return raw


def _unpack_7z(path: Path, raw: bytes) -> tuple[str, bytes]:
    """The archive's one ``.json`` member (or its ``train.json``): its label and bytes."""
    import py7zr  # only needed for archives

    try:
        with py7zr.SevenZipFile(io.BytesIO(raw)) as archive:
            files = [info for info in archive.list() if not info.is_directory]
            found = [info for info in files if info.filename.lower().endswith(".json")]
            named = [info for info in found if Path(info.filename).name.lower() == "train.json"]
            found = named if len(found) > 1 and len(named) == 1 else found
            if len(found) != 1:
                names = ", ".join(info.filename for info in files) or "nothing"
                raise DataError(f"{path}: the 7z archive holds {'several' if found else 'no'} "
                                f".json file{'s' if found else ''} (it holds: "
                                f"{shorten(names, 200)}); expected exactly one .json file, or one "
                                "called train.json")  # fmt: skip
            member = found[0]
            label = f"{path} (member {member.filename})"
            if (member.uncompressed or 0) > MAX_BYTES:
                raise _too_large(label)
            factory = py7zr.io.BytesIOFactory(MAX_BYTES + 1)  # stops writing past its limit
            archive.extract(targets=[member.filename], factory=factory)
            (product := factory.get(member.filename)).seek(0)
            data = product.read()
    except DataError:
        raise
    except Exception as err:  # py7zr raises many kinds on a damaged archive
        raise DataError(f"{path}: cannot unpack the 7z archive: {one_line(err)}") from err
    if len(data) > MAX_BYTES:  # the header understated the size
        raise _too_large(label)
    return label, data


def _parse_json(label: str, raw: bytes) -> Any:
    if not raw.strip():
        raise DataError(f"{label}: the file is empty, expected a JSON list of records")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as err:
        ending = " -- the file ends early (truncated?)" if _looks_truncated(err) else ""
        raise DataError(f"{label}: not valid JSON: {err.msg} at line {err.lineno}, column "
                        f"{err.colno} (character {err.pos}){ending}") from err  # fmt: skip
    except UnicodeDecodeError as err:
        raise DataError(f"{label}: not valid JSON: not UTF-8 text (byte {err.start})") from err
    except RecursionError as err:
        raise DataError(f"{label}: not valid JSON for this schema: nested too deeply") from err
    except ValueError as err:  # e.g. an integer with more digits than Python converts
        raise DataError(f"{label}: not valid JSON: {one_line(err)}") from err


# A number cut anywhere ("2.", "1e", "-"), and the literals Python's json reads.
_PARTIAL_NUMBER = re.compile(r"-?\d*(\.\d*)?([eE][+-]?\d*)?")
_LITERALS = ("true", "false", "null", "NaN", "Infinity", "-Infinity")


def _looks_truncated(err: json.JSONDecodeError) -> bool:
    """The text stops before the document is complete (not merely invalid, however short)."""
    text = err.doc.rstrip() if isinstance(err.doc, str) else ""
    if err.msg.startswith("Unterminated string"):
        return '"' not in text[err.pos + 1 :]
    if err.msg.startswith("Extra data"):
        return False
    rest = text[err.pos :]  # nothing, or a number or literal cut short
    return bool(_PARTIAL_NUMBER.fullmatch(rest)) or any(w.startswith(rest) for w in _LITERALS)
