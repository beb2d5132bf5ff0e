"""What a run is asked to do: its folder, length, seed and options, checked once."""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reproduce import provenance
from reproduce.errors import ReproduceError

__all__ = ["RunSpec", "check_arrays"]

# Command-line switches that must not be repeated in the "resume with" command.
_NOT_FOR_RESUME = ("--force", "--no-resume")


def _resume_command(command: str) -> str:
    try:
        words = shlex.split(command)
    except ValueError:
        return command
    return shlex.join(w for w in words if w not in _NOT_FOR_RESUME)


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """The settings of one training run (see :class:`reproduce.engine.Run`).

    Attributes:
        run_dir: the run folder; created if missing. One process at a time.
        epochs: epochs to train in total (``epochs_planned``).
        batch_size: mini-batch size, also used for evaluation.
        seed: in [0, 2**32); the run's seed as recorded (the scripts' split,
            R's ``set.seed``), and the training seed unless ``train_seed`` is given.
        train_seed: in [0, 2**32) or ``None`` (then ``seed``); fixes the
            per-epoch sample order and dropout masks (the initial weights
            come from :func:`reproduce.engine.seed_everything` with it).
        metadata: stored in ``metrics.json``. Recognised keys: ``model``,
            ``preprocessing``, ``quick``, ``data`` (``DataSource.to_dict()``),
            ``argv`` (the arguments after ``python -m reproduce``), ``command``
            (default: rebuilt from ``argv`` or ``sys.argv``), ``config`` (a dict
            of further settings that must match to resume, e.g. solver and
            tolerances; stored in the checkpoint, not in metrics.json) and
            ``resume_command`` (default: ``command`` without ``--force`` and
            ``--no-resume``). Any other key is copied into ``metrics.json``.
        config: further settings that must match to resume, merged over
            ``metadata["config"]``.
        resume: resume an unfinished run found in ``run_dir``.
        force: start over even if ``run_dir`` holds a finished run.
        deterministic: turn on TensorFlow's op determinism (for the rest of
            the process: TensorFlow cannot turn it off again reliably). Same
            seed + deterministic = same history to the last digit.
        verbose: Keras' progress display (0 silent, 1 bar, 2 one line per
            epoch). The model summary is printed before training at any level.
        shuffle: visit the training samples in a new seeded order each epoch.
        callbacks: extra Keras callbacks, passed to ``fit``.
        eager: train with ``model.run_eagerly`` (for debugging).

    Raises:
        ValueError: ``epochs`` or ``batch_size`` below 1.
        ReproduceError: a seed outside [0, 2**32).
    """

    run_dir: str | os.PathLike
    epochs: int
    batch_size: int
    seed: int
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    resume: bool = True
    force: bool = False
    deterministic: bool = False
    verbose: int = 1
    shuffle: bool = True
    callbacks: Sequence[Any] = ()
    eager: bool = False
    train_seed: int | None = None

    def __post_init__(self) -> None:
        # Normalised here so that the rest of the engine reads plain values.
        set_ = object.__setattr__
        set_(self, "run_dir", Path(self.run_dir))
        set_(self, "metadata", dict(self.metadata or {}))
        set_(self, "config", dict(self.config or {}))
        set_(self, "callbacks", tuple(self.callbacks or ()))
        if int(self.epochs) < 1 or int(self.batch_size) < 1:
            raise ValueError(
                f"epochs ({self.epochs}) and batch_size ({self.batch_size}) must be >= 1"
            )
        if self.train_seed is None:
            set_(self, "train_seed", self.seed)
        for name, value in (("seed", self.seed), ("training seed", self.train_seed)):
            if not 0 <= int(value) < 2**32:
                raise ReproduceError(f"the {name} must be an integer in [0, 2**32), not {value}")
        set_(self, "train_seed", int(self.train_seed))
        set_(self, "epochs", int(self.epochs))
        set_(self, "batch_size", int(self.batch_size))
        set_(self, "seed", int(self.seed))

    @property
    def resume_config(self) -> dict:
        """The caller's settings that must match to resume: ``metadata["config"]`` and ``config``."""
        return {**(self.metadata.get("config") or {}), **self.config}

    def command(self) -> tuple[str, list[str], str]:
        """``(command, argv, resume_command)`` as recorded and printed for this run."""
        argv = self.metadata.get("argv")
        command = self.metadata.get("command")
        if command is None:
            command = provenance.command_line(list(argv) if argv is not None else None)
        if argv is None:
            argv = list(sys.argv)
        command = str(command)
        resume_with = str(self.metadata.get("resume_command") or _resume_command(command))
        return command, [str(a) for a in argv], resume_with


_ARRAY_NAMES = ("training inputs", "training labels", "test inputs", "test labels")


def check_arrays(*arrays: Any) -> None:
    """Check ``x_train, y_train[, x_test, y_test]`` before training.

    Raises:
        ValueError: inputs and labels differ in length, or no training samples.
        ReproduceError: NaN or infinite values (they would only show up as a
            NaN loss later).
    """
    import numpy as np

    pairs = [arrays[i : i + 2] for i in range(0, len(arrays), 2)]
    if any(len(x) != len(y) for x, y in pairs):
        sizes = ", ".join(
            f"{name} {len(x)} vs {len(y)}" for name, (x, y) in zip(("train", "test"), pairs)
        )
        raise ValueError(f"inputs and labels differ in length: {sizes}")
    if len(arrays[0]) == 0:
        raise ValueError("no training samples")
    for name, array in zip(_ARRAY_NAMES, arrays):
        array = np.asarray(array)
        if not np.issubdtype(array.dtype, np.floating):
            continue
        finite = np.isfinite(array).reshape(len(array), -1).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            raise ReproduceError(
                f"the {name} hold NaN or infinite values in {len(bad)} samples (first: "
                f"sample {int(bad[0])}); fix or drop them before training."
            )
