"""How a run ends badly: the engine's two exceptions, and the one-line messages of its failures."""

from __future__ import annotations

import errno

from reproduce.errors import ReproduceError

# A rerun with the same settings would repeat these: such a run starts over instead of resuming.
REPEATABLE_FAILURES = ("nan", "solver")

# Write failures the user can fix; the last saved epoch stays resumable.
_CAUSES = {
    errno.ENOSPC: " (the disk is full)",
    errno.EDQUOT: " (the disk quota is used up)",
    errno.EROFS: " (the file system is read-only)",
    errno.EACCES: " (no permission to write there)",
}


class TrainingFailed(ReproduceError):
    """Training stopped on a failure the user can fix (NaN loss, ODE solver, memory).

    ``metrics``: what ``metrics.json`` holds (status "failed").
    """

    def __init__(self, message: str, metrics: dict | None = None):
        super().__init__(message)
        self.metrics = metrics or {}


class TrainingInterrupted(KeyboardInterrupt):
    """Stopped by SIGINT/SIGTERM after saving; ``resume_command`` continues the run.

    A ``KeyboardInterrupt``, so that it stops ``all`` too (exit status 130).
    """

    def __init__(self, message: str, metrics: dict, resume_command: str):
        super().__init__(message)
        self.metrics = metrics
        self.resume_command = resume_command


def first_line(text: str, limit: int = 400) -> str:
    """The first non-blank line of ``text``, shortened to ``limit`` characters."""
    line = next((line.strip() for line in str(text).splitlines() if line.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def solver_failure(exc: BaseException) -> str | None:
    """The message of an ODE solver failure, or ``None`` if ``exc`` is something else.

    In a compiled step the solver can only fail a TensorFlow assertion, whose
    text odelayers reads back.
    """
    import tensorflow as tf

    from odelayers import errors

    if isinstance(exc, errors.ODESolverError):
        return str(exc)
    return errors.solver_message(exc.message or "") if isinstance(exc, tf.errors.OpError) else None


def out_of_memory(exc: BaseException) -> bool:
    import tensorflow as tf

    return isinstance(exc, (tf.errors.ResourceExhaustedError, MemoryError))


def is_write_failure(exc: BaseException) -> bool:
    """A run-folder write the user can fix: disk full, quota, read-only, permission."""
    return isinstance(exc, OSError) and exc.errno in _CAUSES


def solver_message(stage: str, epoch: int, detail: str, batch: tuple[int, int] | None) -> str:
    where = f"epoch {epoch}" if batch is None else f"epoch {epoch}, batch {batch[0]} of {batch[1]}"
    return (
        f"the ODE solver gave up during {stage} ({where}): "
        f"{first_line(detail)}. What to change: loosen the tolerances (rtol/atol) or raise "
        "max_num_steps if it ran out of steps; if the step size underflowed or the state "
        "became non-finite, the dynamics are stiff or blowing up: try the 'bdf' solver, a "
        "lower learning rate, or a fixed-step method."
    )


def memory_message(stage: str, epoch: int, exc: BaseException) -> str:
    detail = first_line(getattr(exc, "message", "") or str(exc))
    return f"out of memory during {stage} (epoch {epoch}): {detail}. Lower the batch size."


def nan_message(epoch: int, batch: int, steps: int, loss: float) -> str:
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
    """Names the file, the cause, what was kept (``saved_epoch`` None: the run did not start)."""
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
        kept = f"all {epochs} epochs are saved in its checkpoint"
        then = "evaluates and saves the model without training again"
    elif saved_epoch:
        kept = f"its checkpoint after epoch {saved_epoch} of {epochs} is kept"
        then = "resumes from there"
    else:
        kept, then = "no epoch was saved yet", "starts it"
    return (
        f"cannot write {exc.filename}: {exc.strerror}{cause}. The run is not finished and "
        f"{kept}: {remedy} and run the same command again, which {then}."
    )
