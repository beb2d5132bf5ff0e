"""Training a model into a run folder in one call: :func:`run_training`."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reproduce.engine.run import Run
from reproduce.engine.seeding import seed_everything
from reproduce.engine.spec import RunSpec, check_arrays

__all__ = ["run_training"]


def run_training(
    *,
    run_dir: str | os.PathLike,
    build_model: Callable[[], Any],
    data: tuple[Any, Any, Any, Any],
    epochs: int,
    batch_size: int,
    seed: int,
    metadata: Mapping[str, Any] | None = None,
    resume: bool = True,
    force: bool = False,
    deterministic: bool = False,
    verbose: int = 1,
    shuffle: bool = True,
    callbacks: Sequence[Any] | None = None,
) -> dict:
    """Train a model into a run folder, resuming an unfinished run there; return its metrics.

    The whole of a :class:`reproduce.engine.Run` in one call: fit, then
    evaluate on the test set, then finish. The run folder, what happens to an
    existing one, and how a run ends are described in
    :mod:`reproduce.engine.run`; the options in :class:`reproduce.engine.RunSpec`::

        metrics = run_training(
            run_dir=out / "dense-r", build_model=lambda: build_dense(...),
            data=(x_train, y_train, x_test, y_test), epochs=150, batch_size=32, seed=1,
            metadata={"model": "dense", "preprocessing": "r", "quick": False,
                      "data": source.to_dict(), "argv": argv})

    Args:
        build_model: returns a *compiled* ``keras.Model``. Called once, after
            seeding, so its initial weights depend on ``seed`` only.
        data: ``(x_train, y_train, x_test, y_test)`` NumPy arrays (the split is
            the caller's). All four must match for a stored run to resume.

    Returns:
        The metrics written to ``metrics.json`` (status "finished").

    Raises:
        TrainingInterrupted: SIGINT/SIGTERM (a ``KeyboardInterrupt``); the run
            folder is saved and resumable, the message says how.
        TrainingFailed: a NaN/infinite loss, an ODE solver failure or memory
            exhausted (a :class:`ReproduceError`); status "failed".
        ReproduceError: a finished run without ``force``, a configuration
            mismatch, a damaged checkpoint, another process on ``run_dir``,
            non-finite data.
    """
    x_train, y_train, x_test, y_test = data
    spec = RunSpec(
        run_dir, epochs, batch_size, seed, metadata=metadata or {}, resume=resume, force=force,
        deterministic=deterministic, verbose=verbose, shuffle=shuffle, callbacks=callbacks or (),
    )  # fmt: skip
    # Checked before the folder is touched, so that bad data leaves it as it was.
    check_arrays(x_train, y_train, x_test, y_test)
    with Run(spec) as run:
        seed_everything(spec.train_seed)
        model = build_model()
        run.fit(model, x_train, y_train, test_data=(x_test, y_test))
        run.evaluate(model, x_test, y_test)
    return run.metrics
