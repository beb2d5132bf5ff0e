"""How a run ends badly: the engine's exceptions, its one-line messages, signals and the folder lock."""

import contextlib
import errno
import os
import signal
import threading

from reproduce.errors import ReproduceError, first_line

# Write failures the user can fix; the last saved epoch stays resumable.
_CAUSES = {errno.ENOSPC: " (the disk is full)", errno.EDQUOT: " (the disk quota is used up)"}
_CAUSES[errno.EROFS] = " (the file system is read-only)"
_CAUSES[errno.EACCES] = " (no permission to write there)"


class TrainingFailed(ReproduceError):
    """Training stopped on a failure the user can fix (NaN loss, ODE solver, memory)."""

    def __init__(self, message: str, metrics: dict | None = None):
        super().__init__(message)
        self.metrics = metrics or {}


class TrainingInterrupted(KeyboardInterrupt):
    """Stopped by SIGINT/SIGTERM after saving (a ``KeyboardInterrupt``: it stops ``all`` too)."""

    def __init__(self, message: str, metrics: dict, resume_command: str):
        super().__init__(message)
        self.metrics, self.resume_command = metrics, resume_command


def solver_failure(exc: BaseException) -> str | None:
    """The message of an ODE solver failure (a compiled step fails a TF assertion), or ``None``."""
    import tensorflow as tf

    from odelayers import errors

    if isinstance(exc, errors.ODESolverError):
        return str(exc)
    return errors.solver_message(exc.message or "") if isinstance(exc, tf.errors.OpError) else None


def user_failure(exc: Exception, stage: str, where: str) -> tuple[str, str] | None:
    """``(message, kind)`` of an ODE solver failure or an exhausted memory, else ``None``."""
    import tensorflow as tf

    if (solver := solver_failure(exc)) is not None:
        return f"the ODE solver gave up during {stage} ({where}): {first_line(solver)}. " + (
            "What to change: loosen the tolerances (rtol/atol) or raise max_num_steps if it ran "
            "out of steps; if the step size underflowed or the state became non-finite, the "
            "dynamics are stiff or blowing up: try the 'bdf' solver, a lower learning rate, or a "
            "fixed-step method."
        ), "solver"
    if isinstance(exc, (tf.errors.ResourceExhaustedError, MemoryError)):
        detail, where = first_line(getattr(exc, "message", "") or str(exc)), where.split(",")[0]
        return f"out of memory during {stage} ({where}): {detail}. Lower the batch size.", "memory"
    return None


def is_write_failure(exc: BaseException) -> bool:
    """A run-folder write the user can fix: disk full, quota, read-only, permission."""
    return isinstance(exc, OSError) and exc.errno in _CAUSES


def write_failure_message(exc: OSError, saved: int | None, epochs: int = 0) -> str:
    """Names the file, the cause, what was kept (``saved`` None: the run did not start)."""
    writable = exc.errno in (errno.EROFS, errno.EACCES)
    remedy = "make the folder writable" if writable else "free some space"
    head = f"cannot write {exc.filename}: {exc.strerror}{_CAUSES.get(exc.errno, '')}."
    if saved is None:
        return f"{head} The run did not start: {remedy} and run the same command again."
    kept, then = "no epoch was saved yet", "starts it"
    if saved >= epochs:
        kept = f"all {epochs} epochs are saved in its checkpoint"
        then = "evaluates and saves the model without training again"
    elif saved:
        kept, then = f"its checkpoint after epoch {saved} of {epochs} is kept", "resumes from there"
    return f"{head} The run is not finished and {kept}: {remedy} and run the same command again, which {then}."


@contextlib.contextmanager
def graceful_signals(stop: dict):
    """Route SIGINT/SIGTERM into ``stop["signal"]`` while training, to end at a batch's end. A
    second takes the default action at once (TensorFlow may be inside a long batch where Python
    cannot run; the folder is consistent anyway); signals a parent ignored stay ignored."""
    previous = {}

    def handler(signum, frame):  # noqa: ARG001
        stop["signal"] = name = signal.Signals(signum).name
        for number in previous:
            signal.signal(number, signal.SIG_DFL)
        key = "Ctrl-C" if signum == signal.SIGINT else name
        note = f"\n{name} received: stopping at the end of this batch and keeping the last "
        note += f"completed epoch. {key} again stops at once.\n"
        with contextlib.suppress(OSError):
            os.write(2, note.encode())  # not print(): the main thread may be inside a print

    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(number) not in (signal.SIG_IGN, None):
                previous[number] = signal.signal(number, handler)
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


@contextlib.contextmanager
def exclusive(run_dir):
    """An advisory ``flock`` on the folder itself, released by the kernel when the process dies."""
    import fcntl

    fd = os.open(run_dir, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ReproduceError(f"another process is training into {run_dir}; wait for it to "
                                 "finish or choose another output folder.") from None  # fmt: skip
        yield
    finally:
        os.close(fd)
