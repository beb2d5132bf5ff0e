"""What one training run is asked to do: :class:`RunOptions`, and the engine's view of it.

The command line (:mod:`reproduce.commands.train`) fills a ``RunOptions`` for
each model; a script's ``main(options)`` (:mod:`reproduce.dense`,
:mod:`reproduce.resnet`, :mod:`reproduce.odenet`) reads the data it names and
hands :meth:`RunOptions.run_spec` to the engine. From Python::

    from reproduce import dense
    from reproduce.options import RunOptions
    dense.main(RunOptions("dense", epochs=5, out="/tmp/runs"))

Decisions a user may want to know:

* The run name defaults to ``{model}-{preprocessing}-{real|standin}-{quick|e<epochs>}``;
  ``limit_train``/``limit_test`` outside the quick preset add ``-n<train>x<test>``
  so a shortened run never resumes into a full run's folder. Under ``all``,
  ``run_name`` NAME names the runs ``NAME-dense``, ``NAME-resnet``, ``NAME-odenet``.
* ``seed`` is R's ``set.seed()``: the split. ``train_seed`` (default: the
  same number) seeds the weights, the dropout masks and the shuffling, so
  that training can be repeated with other draws on the same split. A
  training seed other than ``seed`` adds ``-t<train_seed>`` to the run name
  (default or given), so that the runs of several seeds get one folder each
  while a run with the default seed keeps the name it always had.
* ``skip_finished`` (set under ``all`` and when several training seeds are
  trained in turn): a finished run already in the folder is skipped rather
  than refused, so that rerunning the same command resumes the sequence.
* ``semantics`` (default ``keras22``) makes the loss and the batch
  normalisation compute what R keras computed in 2019 (:mod:`reproduce.keras22`);
  ``keras3`` keeps Keras 3's own. It is recorded in ``metrics.json``.
* The sample kind, the semantics, the limits and the solver settings must match for a run to
  be resumed, like the epochs, batch size and seed (the ODE-Net's learned end
  time too: ``trainable_t1`` enters those settings only when set, so runs
  from before the option resume unchanged).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from odelayers import SolverOptions
from reproduce import settings
from reproduce.engine import distribution, runfolder
from reproduce.engine.spec import RunSpec


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """One model's run, fully resolved (the quick preset already applied).

    Defaults are the report's settings (:mod:`reproduce.settings`).
    """

    model: str
    data: str | None = None  # None: $ICEBERG_DATA, data/train.json, else the stand-in
    preprocessing: str = "r"
    seed: int = settings.SEED
    train_seed: int | None = None  # None: the split's seed
    semantics: str = settings.SEMANTICS
    sample_kind: str = settings.SAMPLE_KIND
    limit_train: int | None = None
    limit_test: int | None = None
    epochs: int = settings.EPOCHS
    batch_size: int = settings.BATCH_SIZE
    quick: bool = False
    shrunk: tuple[str, ...] = ()  # what the quick preset changed, in words
    deterministic: bool = False
    eager: bool = False
    verbose: int = 1
    out: str = "results"
    run_name: str | None = None
    in_all: bool = False  # part of ``all``: --run-name gets the model as suffix
    skip_finished: bool = False  # one of several seeds: a finished run is skipped, not refused
    resume: bool = True
    force: bool = False
    argv: tuple[str, ...] | None = None  # the arguments after ``python -m reproduce``
    solver: SolverOptions = settings.ODENET_SOLVER  # read by the ODE-Net only
    hidden_channels: int = settings.ODENET_HIDDEN_CHANNELS  # read by the ODE-Net only
    trainable_t1: bool = False  # read by the ODE-Net only: learn the block's end time
    tensorboard: str | None = None  # TensorBoard logs under this folder, one subfolder per run
    distribute: str | None = None  # "mirrored" (reproduce.engine.distribution)

    def __post_init__(self):
        if self.model not in settings.MODELS:
            raise ValueError(f"model must be one of {settings.MODELS}, not {self.model!r}")
        modes = settings.DENSE_PREPROCESSINGS if self.model == "dense" else settings.PREPROCESSINGS
        if self.preprocessing not in modes:
            raise ValueError(
                f"preprocessing of the {self.model} model must be one of {modes}, "
                f"not {self.preprocessing!r}"
            )
        if self.semantics not in settings.SEMANTICS_OPTIONS:
            raise ValueError(
                f"semantics must be one of {settings.SEMANTICS_OPTIONS}, not {self.semantics!r}"
            )
        if self.train_seed is None:
            object.__setattr__(self, "train_seed", self.seed)
        if self.sample_kind not in settings.SAMPLE_KINDS:
            raise ValueError(
                f"sample_kind must be one of {settings.SAMPLE_KINDS}, not {self.sample_kind!r}"
            )

    def default_run_name(self, source) -> str:
        """``{model}-{preprocessing}-{real|standin}-{quick|e<epochs>}`` (+ limits outside quick)."""
        kind = "real" if source.kind == "real" else "standin"
        length = "quick" if self.quick else f"e{self.epochs}"
        name = f"{self.model}-{self.preprocessing}-{kind}-{length}"
        if not self.quick and (self.limit_train or self.limit_test):
            name += f"-n{self.limit_train or 'all'}x{self.limit_test or 'all'}"
        return name

    def run_dir(self, source) -> Path:
        """The run folder: ``out / run_name`` (suffixed by the model under ``all``) or the default,
        then ``-t<train_seed>`` when the training seed is not the split's."""
        if self.run_name:
            name = f"{self.run_name}-{self.model}" if self.in_all else self.run_name
        else:
            name = self.default_run_name(source)
        if self.train_seed != self.seed:
            name += f"-t{self.train_seed}"
        return Path(self.out) / name

    def describe(self, n_train: int, n_test: int) -> str:
        """One line: what this run trains on and how."""
        trained = f" (training seed {self.train_seed})" if self.train_seed != self.seed else ""
        return (
            f"{self.model}: {n_train} training and {n_test} test images, {self.epochs} epochs, "
            f"batch {self.batch_size}, seed {self.seed}{trained}, preprocessing "
            f"{self.preprocessing}, sample.kind {self.sample_kind}, semantics {self.semantics}"
        )

    def run_spec(self, source, **settings_to_match) -> RunSpec:
        """The engine's :class:`~reproduce.engine.spec.RunSpec` for this run on ``source``'s data.

        ``settings_to_match`` (e.g. the ODE-Net's solver) are recorded in
        ``metrics.json`` and must match for the run to be resumed.
        """
        config = {
            "sample_kind": self.sample_kind,
            "semantics": self.semantics,
            "limit_train": self.limit_train,
            "limit_test": self.limit_test,
            **settings_to_match,
        }
        metadata = {
            "model": self.model,
            "preprocessing": self.preprocessing,
            "quick": self.quick,
            "data": source.to_dict(),
            "quick_shrank": list(self.shrunk),
            **config,
            "config": config,  # must match to resume
        }
        if self.argv is not None:
            metadata["argv"] = list(self.argv)
        run_dir = self.run_dir(source)
        if self.distribute:
            metadata["distribute"] = distribution.describe(self.distribute)
        callbacks = ()
        if self.tensorboard:
            from reproduce.engine.tensorboard import CompletedEpochsTensorBoard  # imports Keras

            metadata["tensorboard"] = str(Path(self.tensorboard) / run_dir.name)
            callbacks = (CompletedEpochsTensorBoard(metadata["tensorboard"]),)
        return RunSpec(
            run_dir=run_dir,
            epochs=self.epochs,
            batch_size=self.batch_size,
            seed=self.seed,
            train_seed=self.train_seed,
            metadata=metadata,
            resume=self.resume,
            force=self.force,
            deterministic=self.deterministic,
            verbose=self.verbose,
            eager=self.eager,
            callbacks=callbacks,
        )

    def finished_run(self, source) -> dict | None:
        """Under ``all`` or one of several seeds, without ``force``: the metrics of the finished
        run already in the folder.

        Rerunning the same command thus skips the runs already trained (and
        says so); ``None`` means: train.
        """
        if not (self.in_all or self.skip_finished) or self.force:
            return None
        run_dir = self.run_dir(source)
        metrics = runfolder.read_metrics(run_dir)
        if metrics is None or metrics.get("status") != runfolder.FINISHED:
            return None
        trained_on = (metrics.get("data") or {}).get("sha256")
        if trained_on != source.sha256:  # other data: not skipped, the engine refuses and says so
            return None
        print(
            f"{self.model}: {run_dir} already holds a finished run; skipping it (--force retrains)."
        )
        return metrics
