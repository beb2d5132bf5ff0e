"""How a run ends badly: the two exceptions the engine raises, and what caused a failure.

A failure the user can act on (a loss that turns NaN or infinite, an ODE
solver that gives up, memory exhausted, a run folder that cannot be written)
becomes a one-line :class:`ReproduceError`; anything else is a bug and keeps
its traceback. The causes are recognised by exception type, except for the
one case where TensorFlow leaves only the text: a solver that gives up inside
a compiled training step can only fail a TensorFlow assertion, whose text
odelayers reads back (:func:`odelayers.errors.solver_message`, which finds its
``"odelayers:"`` marker).
"""

from __future__ import annotations

import errno

from reproduce.errors import ReproduceError

__all__ = [
    "REPEATABLE_FAILURES",
    "TrainingFailed",
    "TrainingInterrupted",
    "first_line",
    "is_write_failure",
    "memory_message",
    "nan_message",
    "out_of_memory",
    "solver_failure",
    "solver_message",
    "write_failure_message",
]

# Failures that a rerun with the same settings would repeat: such a run starts
# over instead of resuming (the user has to change something anyway).
REPEATABLE_FAILURES = ("nan", "solver")

# A full disk, an exhausted quota, a read-only or forbidden folder: the user
# can fix these, and the last saved epoch stays resumable.
_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES)
_CAUSES = {
    errno.ENOSPC: " (the disk is full)",
    errno.EDQUOT: " (the disk quota is used up)",
    errno.EROFS: " (the file system is read-only)",
    errno.EACCES: " (no permission to write there)",
}


class TrainingFailed(ReproduceError):
    """Training stopped on a failure the user can fix (NaN loss, ODE solver, memory).

    ``metrics`` holds what was written to ``metrics.json`` (status "failed").
    """

    def __init__(self, message: str, metrics: dict | None = None):
        super().__init__(message)
        self.metrics = metrics or {}


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on Ctrl-C or SIGTERM after saving; the run can be resumed.

    A ``KeyboardInterrupt``, so that it stops everything above it like Ctrl-C
    does (``python -m reproduce`` exits with status 130). ``metrics`` holds
    what was written to ``metrics.json`` (status "interrupted"), and
    ``resume_command`` the command that continues the run.
    """

    def __init__(self, message: str, metrics: dict, resume_command: str):
        super().__init__(message)
        self.metrics = metrics
        self.resume_command = resume_command


def first_line(text: str, limit: int = 400) -> str:
    """The first non-blank line of ``text``, shortened to ``limit`` characters."""
    for line in str(text).splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= limit else line[: limit - 3] + "..."
    return ""


def solver_failure(exc: BaseException) -> str | None:
    """The message of an ODE solver failure, or ``None`` if ``exc`` is something else.

    Eagerly the solver raises :class:`odelayers.errors.ODESolverError`;
    inside a compiled step TensorFlow re-raises it as a runtime error whose
    text carries the message (:func:`odelayers.errors.solver_message`).
    """
    # Imported here: odelayers and TensorFlow load slowly, and the engine's
    # package must import without them.
    from odelayers import errors as ode_errors

    if isinstance(exc, ode_errors.ODESolverError):
        return str(exc)
    import tensorflow as tf

    if isinstance(exc, tf.errors.OpError):
        return ode_errors.solver_message(exc.message or "")
    return None


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says that the accelerator's or the host's memory ran out."""
    import tensorflow as tf

    return isinstance(exc, (tf.errors.ResourceExhaustedError, MemoryError))


def is_write_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a run-folder write the user can fix (disk full, read-only, ...)."""
    return isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS


def solver_message(
    stage: str, epoch: int, detail: str, batch: tuple[int, int] | None = None
) -> str:
    """What the user reads when the ODE solver gave up during ``stage`` of ``epoch`` (1-based).

    ``batch`` is ``(batch, steps)`` (1-based) when the failing batch is known (training).
    """
    where = f"epoch {epoch}" if batch is None else f"epoch {epoch}, batch {batch[0]} of {batch[1]}"
    return (
        f"the ODE solver gave up during {stage} ({where}): "
        f"{first_line(detail)}. What to change: loosen the tolerances (rtol/atol) or raise "
        "max_num_steps if it ran out of steps; if the step size underflowed or the state "
        "became non-finite, the dynamics are stiff or blowing up: try the 'bdf' solver, a "
        "lower learning rate, or a fixed-step method."
    )


def memory_message(stage: str, epoch: int, exc: BaseException) -> str:
    """What the user reads when memory ran out during ``stage`` of ``epoch`` (1-based)."""
    detail = first_line(getattr(exc, "message", "") or str(exc))
    return f"out of memory during {stage} (epoch {epoch}): {detail}. Lower the batch size."


def nan_message(epoch: int, batch: int, steps: int, loss: float) -> str:
    """What the user reads when the loss became ``loss`` (NaN/inf) at ``epoch``, ``batch`` (1-based)."""
    kept = {1: "no epoch was completed", 2: "epoch 1 is kept"}.get(
        epoch, f"epochs 1-{epoch - 1} are kept"
    )
    return (
        f"the training loss became {loss} at epoch {epoch}, batch "
        f"{batch} of {steps}; the run stopped there ({kept}). Likely cause: a "
        "learning rate too high for this model (lower it); for an ODE model also a solver "
        "tolerance too loose for the dynamics (lower rtol/atol) or a fixed step too large."
    )


def write_failure_message(exc: OSError, saved_epoch: int | None, epochs: int) -> str:
    """One line for a run-folder write that failed (see :func:`is_write_failure`).

    Names the file and the cause, says what was kept (the checkpoint after
    ``saved_epoch`` of ``epochs``; 0: none yet; ``None``: before the run
    began, nothing to say) and how to go on.
    """
    cause = _CAUSES.get(exc.errno, "")
    remedy = (
        "make the folder writable"
        if exc.errno in (errno.EROFS, errno.EACCES)
        else ("free some space")
    )
    if saved_epoch is None:
        return (
            f"cannot write {exc.filename}: {exc.strerror}{cause}. The run did not start: "
            f"{remedy} and run the same command again."
        )
    if saved_epoch >= epochs:
        kept, then = (
            f"all {epochs} epochs are saved in its checkpoint",
            "evaluates and saves the model without training again",
        )
    elif saved_epoch:
        kept, then = (
            f"its checkpoint after epoch {saved_epoch} of {epochs} is kept",
            "resumes from there",
        )
    else:
        kept, then = "no epoch was saved yet", "starts it"
    return (
        f"cannot write {exc.filename}: {exc.strerror}{cause}. The run is not finished and "
        f"{kept}: {remedy} and run the same command again, which {then}."
    )
