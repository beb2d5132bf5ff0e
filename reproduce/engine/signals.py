"""Who may stop a run: graceful SIGINT/SIGTERM, and one process per run folder."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path

from reproduce.errors import ReproduceError


@contextlib.contextmanager
def graceful_signals(stop: dict):
    """Route SIGINT/SIGTERM into ``stop["signal"]`` while training, to end at a batch's end.

    A second signal takes the default action at once: TensorFlow may be inside
    a long batch where Python cannot run, and the folder is consistent anyway.
    Signals a parent set to be ignored stay ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}

    def handler(signum, frame):  # noqa: ARG001
        stop["signal"] = name = signal.Signals(signum).name
        for number in previous:
            signal.signal(number, signal.SIG_DFL)
        key = "Ctrl-C" if signum == signal.SIGINT else name
        note = (
            f"\n{name} received: stopping at the end of this batch and keeping the "
            f"last completed epoch. {key} again stops at once.\n"
        )
        with contextlib.suppress(OSError):
            os.write(2, note.encode())  # not print(): the main thread may be inside a print

    for number in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(number) not in (signal.SIG_IGN, None):
            previous[number] = signal.signal(number, handler)
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


@contextlib.contextmanager
def exclusive(run_dir: Path):
    """An advisory ``flock`` on the folder itself, released by the kernel when the process dies."""
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
