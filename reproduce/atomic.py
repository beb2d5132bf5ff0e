"""Write files so that a crash at any moment leaves the old file or the new one.

Every result and checkpoint file of a run goes through this module. The
recipe: write the new content to a temporary file in the *same directory*
(so the final rename never crosses a file system), flush it to disk with
``fsync``, then ``os.replace`` it over the target. ``os.replace`` is atomic on
POSIX and Windows: a reader, or a process that restarts after a kill or a
power cut, sees either the complete old file or the complete new one. The
directory is fsynced afterwards so that the rename itself survives a power cut.

Temporary files are hidden (their name starts with a dot), keep the target's
extension (``model.keras`` is written as ``.model.tmp-<random>.keras``, since
Keras picks the format from the extension), and are removed when writing
fails. A failed write raises an :class:`OSError` whose ``filename`` is the
target, not the temporary file: the user is told which result could not be
written (``errno`` and ``strerror`` are kept, so a full disk stays ENOSPC).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "fsync_directory",
    "naming_failures",
]


def _temporary_sibling(path: Path) -> Path:
    """A fresh hidden name next to ``path`` that keeps its full extension.

    ``epoch-0003.weights.h5`` -> ``.epoch-0003.tmp-<hex>.weights.h5``: libraries
    such as Keras accept or reject a file by its compound extension.
    """
    stem, dot, extension = path.name.partition(".")
    token = f"tmp-{os.getpid()}-{secrets.token_hex(4)}"
    name = f".{stem}.{token}{dot}{extension}"
    return path.with_name(name)


def fsync_directory(directory: str | os.PathLike) -> None:
    """Flush a directory entry (a rename or a deletion) to disk.

    Best effort: some platforms (Windows) and file systems cannot open or
    fsync a directory; the rename is still atomic there, only its durability
    across a power cut is weaker.
    """
    try:
        fd = os.open(os.fspath(directory), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _commit(tmp: Path, target: Path) -> None:
    """Make the written temporary file durable and move it over ``target``."""
    _fsync_file(tmp)
    os.replace(tmp, target)


@contextlib.contextmanager
def naming_failures(path: str | os.PathLike) -> Iterator[None]:
    """Re-raise an :class:`OSError` of the block with ``path`` as its file name.

    Same errno and text; an error without errno propagates as it is. A write
    may fail on a temporary file, or at ``close`` without any file name: the
    user needs to know which result could not be written.
    """
    try:
        yield
    except OSError as error:
        if error.errno is None:
            raise
        raise OSError(error.errno, error.strerror, os.fspath(path)) from error


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Give a temporary path to write to; move it over ``path`` on success.

    Use it for writers that want a file name rather than a file object::

        with atomic_path(run_dir / "model.keras") as tmp:
            model.save(tmp)

    When the block finishes normally the temporary file is fsynced and renamed
    over ``path`` (replacing any existing file). When the block raises (or the
    writer produced no file), the temporary file is deleted, ``path`` is left
    untouched and the exception propagates. The parent directory must exist.

    Args:
        path: the final destination.

    Yields:
        A path in the same directory as ``path`` with the same extension.
    """
    target = Path(path)
    tmp = _temporary_sibling(target)
    try:
        with naming_failures(target):
            yield tmp
            if not tmp.exists():
                raise FileNotFoundError(f"nothing was written to the temporary file {tmp}")
            _commit(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_directory(target.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Replace ``path`` by ``data`` atomically. Returns the path written."""
    target = Path(path)
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
    return target


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Replace ``path`` by ``text`` atomically (UTF-8, ``\\n`` line ends). Returns the path."""
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: str | os.PathLike, obj: Any, *, indent: int = 2) -> Path:
    """Replace ``path`` by ``obj`` serialised as JSON, atomically.

    Floats are written with Python's shortest round-trip representation, so
    reading the file back gives the same numbers to the last digit. NaN and
    infinity are refused (they are not JSON): convert them to ``None`` first.
    The object is serialised before the file is touched, so an unserialisable
    object leaves the old file as it was.
    """
    text = json.dumps(obj, indent=indent, allow_nan=False, ensure_ascii=False) + "\n"
    return atomic_write_text(path, text)
