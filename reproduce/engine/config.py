"""One run's configuration: the command line's options, frozen, compared on resume."""

import contextlib
import dataclasses
import shlex
from pathlib import Path

from reproduce import provenance, settings
from reproduce.errors import ReproduceError

#: What must be the same for an unfinished run to be resumed (nanoGPT's checkpoint keys).
RESUME_KEYS = (
    "model preprocessing quick epochs batch_size seed train_seed sample_kind semantics limit_train "
    "limit_test validation shuffle method rtol atol gradient step_size hidden_channels trainable_t1"
).split()


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """One model's run as the command line asked for it (``--help`` explains each option).
    ``train_seed`` (``None``: ``seed``) seeds the weights, dropout and shuffling; ``in_all``: one
    model of ``all``; ``skip_finished``: skip rather than refuse a finished run; ``argv``: the
    arguments after ``python -m reproduce``."""

    model: str
    data: str | None = None
    preprocessing: str = "r"
    seed: int = settings.SEED
    train_seed: int | None = None
    semantics: str = settings.SEMANTICS
    sample_kind: str = settings.SAMPLE_KIND
    limit_train: int | None = None
    limit_test: int | None = None
    validation: int | None = None
    epochs: int = settings.EPOCHS
    batch_size: int = settings.BATCH_SIZE
    quick: bool = False
    quick_shrank: tuple[str, ...] = ()
    shuffle: bool = True
    deterministic: bool = False
    eager: bool = False
    verbose: int = 1
    out: str = "runs"
    run_name: str | None = None
    in_all: bool = False
    skip_finished: bool = False
    resume: bool = True
    force: bool = False
    argv: tuple[str, ...] | None = None
    method: str = settings.ODENET_SOLVER["method"]
    rtol: float = settings.ODENET_SOLVER["rtol"]
    atol: float = settings.ODENET_SOLVER["atol"]
    gradient: str = settings.ODENET_SOLVER["gradient"]
    step_size: float | None = settings.ODENET_SOLVER["step_size"]
    hidden_channels: int = settings.ODENET_HIDDEN_CHANNELS
    trainable_t1: bool = False
    tensorboard: str | None = None
    distribute: str | None = None

    def __post_init__(self):
        modes = settings.DENSE_PREPROCESSINGS if self.model == "dense" else settings.PREPROCESSINGS
        for name, value, allowed in (
            ("model", self.model, settings.MODELS),
            (f"preprocessing of the {self.model} model", self.preprocessing, modes),
            ("semantics", self.semantics, settings.SEMANTICS_OPTIONS),
            ("sample_kind", self.sample_kind, settings.SAMPLE_KINDS),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, not {value!r}")
        if min(int(self.epochs), int(self.batch_size)) < 1:
            raise ValueError(
                f"epochs ({self.epochs}) and batch_size ({self.batch_size}) must be >= 1"
            )
        if self.train_seed is None:
            object.__setattr__(self, "train_seed", self.seed)
        for name, value in (("seed", self.seed), ("training seed", self.train_seed)):
            if not 0 <= int(value) < 2**31:  # R's set.seed takes 32-bit signed integers
                raise ReproduceError(f"the {name} must be an integer in [0, 2**31), not {value}")

    @property
    def solver(self):
        """The ODE block's :class:`odelayers.SolverOptions` (imports TensorFlow)."""
        from odelayers import SolverOptions

        keys = "method rtol atol gradient step_size".split()
        return SolverOptions(**{key: getattr(self, key) for key in keys})

    def run_dir(self, source=None) -> Path:
        """``out/{model}-{preprocessing}-{real|standin}-{quick|e<N>}[-n<train>x<test>][-t<seed>]``;
        ``source``: the data's kind or a ``DataSource``; ``run_name`` replaces the part before -t."""
        if self.run_name:
            name = f"{self.run_name}-{self.model}" if self.in_all else self.run_name
        else:
            kind = "real" if getattr(source, "kind", source) == "real" else "standin"
            name = f"{self.model}-{self.preprocessing}-{kind}-"
            name += "quick" if self.quick else f"e{self.epochs}"
            if self.limit_train or self.limit_test:  # never the folder of a full-size run
                name += f"-n{self.limit_train or 'all'}x{self.limit_test or 'all'}"
            name += f"-v{self.validation}" * bool(self.validation)
        name += f"-t{self.train_seed}" * (self.train_seed != self.seed)
        return Path(self.out) / name

    def split(self, nums, not_nums):
        """R's training and test indices as this run uses them: ``validation`` holds out the last N
        training images in place of the (untouched) test images, then the limits keep the first."""
        if self.validation:
            nums, not_nums = nums[: -self.validation], nums[-self.validation :]
        return nums[: self.limit_train], not_nums[: self.limit_test]

    def describe(self, n_train: int, n_test: int) -> str:
        """One line: what this run trains on and how."""
        trained = f" (training seed {self.train_seed})" if self.train_seed != self.seed else ""
        held_out = "held-out validation" if self.validation else "test"
        return (
            f"{self.model}: {n_train} training and {n_test} {held_out} images, {self.epochs} epochs, "
            f"batch {self.batch_size}, seed {self.seed}{trained}, preprocessing "
            f"{self.preprocessing}, sample.kind {self.sample_kind}, semantics {self.semantics}"
        )

    def ode(self) -> dict:
        """The ODE block's settings, as ``metrics.json["ode"]`` records them."""
        ode = {**dataclasses.asdict(self.solver), "hidden_channels": self.hidden_channels}
        return ode | {"trainable_t1": True} if self.trainable_t1 else ode

    def recorded(self) -> dict:
        """The configuration as plain JSON values (``metrics.json["config"]``)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self).items()}

    def commands(self) -> tuple[str, str]:
        """The command line of this run, and the one that resumes it (without --force/--no-resume)."""
        command = provenance.command_line(None if self.argv is None else list(self.argv))
        with contextlib.suppress(ValueError):  # unbalanced quotes: the command as it is
            kept = [w for w in shlex.split(command) if w not in ("--force", "--no-resume")]
            return command, shlex.join(kept)
        return command, command
