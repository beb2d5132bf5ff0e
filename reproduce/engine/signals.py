"""Who may stop a run and how: graceful SIGINT/SIGTERM, and one process per run folder.

The first SIGINT (Ctrl-C) or SIGTERM asks the run to stop at the end of the
current batch; the engine keeps the last completed epoch and says how to
resume. A second signal stops the process at once (default signal action):
TensorFlow may be inside a long batch where Python code cannot run, and the
folder is consistent anyway.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reproduce.errors import ReproduceError

__all__ = ["StopRequest", "exclusive", "graceful_signals"]


class StopRequest:
    """Set by the signal handler; read between batches."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    def __bool__(self) -> bool:
        return self.signal_name is not None


@contextlib.contextmanager
def graceful_signals(request: StopRequest) -> Iterator[None]:
    """Route SIGINT/SIGTERM to ``request`` while training; restore the old handlers after.

    After the first signal both go back to the default action, so a second
    one ends the process at once. Signals a parent process set to be ignored
    stay ignored. Outside the main thread Python cannot install handlers, and
    nothing is changed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}

    def handler(signum, frame):  # noqa: ARG001 - signal handler signature
        request.signal_name = signal.Signals(signum).name
        for number in previous:
            signal.signal(number, signal.SIG_DFL)
        key = "Ctrl-C" if signum == signal.SIGINT else request.signal_name
        note = (
            f"\n{request.signal_name} received: stopping at the end of this batch and keeping the "
            f"last completed epoch. {key} again stops at once.\n"
        )
        with contextlib.suppress(OSError):
            os.write(2, note.encode())  # not print(): the main thread may be inside a print

    for number in (signal.SIGINT, signal.SIGTERM):
        current = signal.getsignal(number)
        if current in (signal.SIG_IGN, None):
            continue
        previous[number] = current
        signal.signal(number, handler)
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


@contextlib.contextmanager
def exclusive(run_dir: Path) -> Iterator[None]:
    """Refuse to let two processes train into the same folder at once.

    An advisory ``flock`` on the directory itself (no lock file to clean up or
    commit by mistake); released by the kernel when the process dies.
    Platforms without ``fcntl`` go unchecked.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(run_dir, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ReproduceError(
                f"another process is training into {run_dir}; wait for it to finish or choose "
                "another output folder."
            ) from None
        yield
    finally:
        os.close(fd)
