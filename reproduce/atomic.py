"""Write files so that a crash at any moment leaves the old file or the new one. The new content
goes to a hidden temporary file beside the target (a rename never crosses a file system), is fsynced
and ``os.replace``-d over it (atomic on POSIX and Windows); the directory is fsynced so that the
rename survives a power cut. A failed write's :class:`OSError` names the target, with its errno
(ENOSPC stays ENOSPC)."""

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _temporary_sibling(path: Path) -> Path:
    """``a.weights.h5`` -> ``.a.tmp-<pid>-<hex>.weights.h5``: Keras reads compound extensions."""
    stem, dot, extension = path.name.partition(".")
    return path.with_name(f".{stem}.tmp-{os.getpid()}-{secrets.token_hex(4)}{dot}{extension}")


def fsync_directory(directory: str | os.PathLike) -> None:
    """Flush a directory entry (a rename or a deletion) to disk; best effort, as some platforms
    (Windows) cannot fsync a directory: the rename stays atomic there, only less durable."""
    with contextlib.suppress(OSError):
        fd = os.open(os.fspath(directory), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _commit(tmp: Path, target: Path) -> None:  # tests replace it to fail between the steps
    _fsync_file(tmp)
    os.replace(tmp, target)


@contextlib.contextmanager
def naming_failures(path: str | os.PathLike) -> Iterator[None]:
    """Re-raise an :class:`OSError` of the block (same errno and text) with ``path`` as its file
    name: a write may fail on a temporary file, or at ``close`` without any file name."""
    try:
        yield
    except OSError as error:
        if error.errno is None:
            raise
        raise OSError(error.errno, error.strerror, os.fspath(path)) from error


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path``, with its extension, moved over it when the block succeeds,
    deleted when it raises or writes nothing: ``with atomic_path(p) as tmp: model.save(tmp)``."""
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
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Replace ``path`` by ``text`` atomically (UTF-8, ``\\n`` line ends). Returns the path."""
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: str | os.PathLike, obj: Any, *, indent: int = 2) -> Path:
    """Replace ``path`` by ``obj`` as JSON, atomically: floats in shortest round-trip form, NaN
    and infinity refused (not JSON; pass ``None``), serialised before the file is touched."""
    text = json.dumps(obj, indent=indent, allow_nan=False, ensure_ascii=False) + "\n"
    return atomic_write_text(path, text)
