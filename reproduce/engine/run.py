"""One training run into a run folder: set-up, training, evaluation, and how it ends.

Typical use (one block per model in a command)::

    from reproduce import engine

    engine.seed_everything(seed)            # before building: the initial weights
    model = build_dense(...)                # compiled
    spec = engine.RunSpec(out / "dense-r", epochs=150, batch_size=32, seed=seed,
                          metadata={"model": "dense", "preprocessing": "r", "quick": False,
                                    "data": source.to_dict(), "argv": argv})
    with engine.Run(spec) as run:
        run.fit(model, x_train, y_train)
        run.evaluate(model, x_test, y_test)
        run.record(r_style_test_accuracy=...)
    metrics = run.metrics

The run folder is brought up to date after every completed epoch::

    <run_dir>/metrics.json   status, configuration, results, provenance
    <run_dir>/history.csv    one row per completed epoch: epoch, loss, accuracy, ...,
                             test_loss, test_accuracy (with test_data, inference mode)
    <run_dir>/curves.png     loss and accuracy per epoch
    <run_dir>/log.txt        what the run reported, one timestamped line each
    <run_dir>/model.keras    the trained model (when finished)
    <run_dir>/checkpoint/    state.json + epoch-NNNN.weights.h5 (while unfinished)

Every file is replaced atomically (:mod:`reproduce.atomic`), so a kill at
any moment leaves a readable folder that a later run can resume. Models and
weights are serialised in memory first (:mod:`reproduce.engine.serialise`), so
a full disk fails in Python's write, never inside HDF5. Resumption is
exact (:mod:`reproduce.engine.seeding`): with ``deterministic=True`` a resumed
run's history equals the uninterrupted one to the last digit.

What happens to an existing ``run_dir`` when the run is entered:

- no ``metrics.json``: a fresh run (files the engine writes are replaced);
- a finished run: :class:`ReproduceError` unless ``force``;
- an unfinished run (status "running" or "interrupted", or "failed" for a
  reason other than a NaN loss or a solver failure) with a checkpoint:
  resumed from its last completed epoch when ``resume`` (the default), after
  :meth:`Run.fit` has checked that the configuration matches (model,
  preprocessing, quick, epochs planned, batch size, seed, shuffling, data
  sha256, the exact arrays, parameter count, optimizer class and learning
  rate, and ``metadata["config"]``); a mismatch raises :class:`ReproduceError`
  naming each difference;
- anything else unfinished (no checkpoint yet, a NaN/solver failure, or
  ``resume=False``): started over;
- ``force``: always started over.

How the ``with`` block ends:

- normally, after ``fit``: the run is finished. ``metrics.json`` gets status
  "finished" with the test scores, the NFE reading and what was recorded,
  after ``model.keras``, ``history.csv``, ``curves.png`` and the log (that
  status is the last thing written), and the checkpoint is removed. Only a
  model Keras cannot serialise is a warning (``model_file`` null). Keys: see
  the run-folder contract; ``train_loss``/``train_accuracy`` are the last
  epoch's values as Keras logged them (running means over the epoch, in
  training mode, like R's ``plot(history)``), ``train_loss_inference``/``train_accuracy_inference``
  the training set scored in inference mode at the end; ``wall_time_s`` is the time spent training (all
  sessions) plus the evaluation; ``seconds_per_epoch`` the mean training time
  of an epoch; ``date`` the start of the run; ``sessions`` one entry per start
  or resumption;
- SIGINT/SIGTERM during ``fit``: the first one stops at the end of the
  current batch (:mod:`reproduce.engine.signals`). The partial epoch is
  dropped, the checkpoint of the last completed epoch stays, ``metrics.json``
  says "interrupted", the command that resumes is printed and
  :class:`TrainingInterrupted` (a ``KeyboardInterrupt``) is raised, so that a
  command running several models stops too. Any other ``KeyboardInterrupt``
  in the block ends the same way;
- a failure the user can act on (a loss that turns NaN or infinite, an ODE
  solver that gives up, memory exhausted) writes status "failed" with an
  "error" message and raises :class:`TrainingFailed` (a
  :class:`ReproduceError`: one line, exit status 2);
- a run folder that cannot be written (disk full, quota, read-only,
  permission), at any file: :class:`ReproduceError`, one line naming the file
  and the cause. The run is not marked finished and the checkpoint of the
  last saved epoch stays; the same command, run again once the cause is
  fixed, resumes from it (with every epoch saved: straight to evaluation and
  ``model.keras``);
- anything else is a bug: status "failed" is written and the exception
  propagates unchanged.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import time
from collections.abc import Mapping
from typing import Any

from reproduce import provenance
from reproduce.engine.checkpoint import restore_weights, save_checkpoint
from reproduce.engine.failures import (
    TrainingFailed,
    TrainingInterrupted,
    first_line,
    is_write_failure,
    memory_message,
    nan_message,
    out_of_memory,
    solver_failure,
    solver_message,
    write_failure_message,
)
from reproduce.engine.inference import epoch_diagnostic, final_scores
from reproduce.engine.log import RunLog
from reproduce.engine.metrics import (
    build_metrics,
    curves_title,
    nfe_reading,
)
from reproduce.engine.multiworker import adapt, worker_spec
from reproduce.engine.progress import Progress
from reproduce.engine.resume import check_config, previous_state, resume_config
from reproduce.engine.runfolder import (
    CHECKPOINT_DIR,
    CURVES_FILE,
    FAILED,
    FINISHED,
    INTERRUPTED,
    MODEL_FILE,
    RUNNING,
    remove_stale_temporaries,
    write_history,
    write_metrics,
)
from reproduce.engine.serialise import save_model_file
from reproduce.engine.signals import StopRequest, exclusive, graceful_signals
from reproduce.engine.spec import RunSpec, check_arrays
from reproduce.errors import ReproduceError

__all__ = ["Run"]


class Run:
    """A training run into ``spec.run_dir``, used as a context manager (see the module doc).

    Entering creates the folder, takes its lock (one process at a time: else
    :class:`ReproduceError`), removes temporaries a killed writer left, and
    decides between resuming and starting over. Call :meth:`fit` once, then
    optionally :meth:`evaluate` and :meth:`record`; leaving the block
    finishes the run. A block left before :meth:`fit` writes nothing more.
    """

    def __init__(self, spec: RunSpec) -> None:
        spec = worker_spec(spec)  # --distribute multiworker: only the chief writes spec.run_dir
        self.spec = spec
        self.run_dir = spec.run_dir
        self.checkpoint_dir = spec.run_dir / CHECKPOINT_DIR
        self.log = RunLog(spec.run_dir)
        self.progress = Progress()
        self.request = StopRequest()
        self.model = None
        self.command, self.argv, self.resume_with = spec.command()
        self._config: dict = {}
        self._found: dict = {}  # provenance, looked up once per session (git and TF are not free)
        self._sizes: tuple[int | None, int | None] = (None, None)
        self._state: dict | None = None
        self._saved_epoch = 0  # the epoch the checkpoint holds (0: none)
        self._lock: contextlib.ExitStack | None = None
        self._stage: str | None = None  # "training" once fit began, then "evaluation"
        self._ended = False  # a final status ("finished", "failed", "interrupted") is written
        self._scores: dict[str, Any] = {"test_loss": None, "test_accuracy": None}
        self._recorded: dict[str, Any] = {}
        self._evaluation_began: float | None = None
        self._metrics: dict | None = None
        self._train_data: tuple[Any, Any] | None = None

    @property
    def metrics(self) -> dict | None:
        """What ``metrics.json`` holds now (``None`` before ``fit`` wrote it)."""
        return self._metrics

    # ----------------------------------------------------------- the with block

    def __enter__(self) -> Run:
        from reproduce._quiet import quiet_tensorflow

        quiet_tensorflow()
        import tensorflow as tf

        lock = contextlib.ExitStack()
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            lock.enter_context(exclusive(self.run_dir))
            remove_stale_temporaries(self.run_dir)
            self._state = previous_state(self.spec, self.log)
            if self.spec.deterministic:
                tf.config.experimental.enable_op_determinism()
        except BaseException as exc:
            lock.close()
            if is_write_failure(exc):  # e.g. the log of a start-over, on a full disk
                raise ReproduceError(write_failure_message(exc, None, self.spec.epochs)) from None
            raise
        self._lock = lock
        return self

    def __exit__(self, kind, exc, traceback) -> bool:
        try:
            if self._stage is None or self._ended:
                return False
            if exc is not None:
                self._end_on(exc)
                return False
            try:
                self._finish()
            except BaseException as error:
                self._end_on(error)
                raise
            return False
        finally:
            self._lock.close()

    def _end_on(self, exc: BaseException) -> None:
        """Raise what ``exc`` means to the user, or write status "failed" for a bug and return."""
        if isinstance(exc, (TrainingFailed, TrainingInterrupted, ReproduceError)):
            return
        if isinstance(exc, KeyboardInterrupt):  # outside the guarded fit, e.g. during evaluation
            raise self._interrupted("Interrupted") from None
        if is_write_failure(exc):
            message = write_failure_message(exc, self._saved_epoch, self.spec.epochs)
            self.progress.error, self.progress.error_kind = message, "write"
            with contextlib.suppress(OSError):  # where a small file still fits: say why
                self._write_status(FAILED)
            raise ReproduceError(message) from None
        if not isinstance(exc, Exception):
            return
        failure = self._failure_from(exc, self._stage)
        if failure is not None:
            raise failure from None
        self.progress.error = f"{type(exc).__name__}: {first_line(str(exc))}"
        self.progress.error_kind = "error"
        with contextlib.suppress(Exception):
            self._write_status(FAILED)
            self.log(f"FAILED: {self.progress.error}", echo=False)

    # ----------------------------------------------------------- public steps

    def fit(
        self, model, x_train, y_train, *, test_data: tuple[Any, Any] | None = None
    ) -> list[dict]:
        """Train ``model`` for the epochs the run still lacks; return the whole history.

        ``model`` must be compiled, and built right after
        :func:`reproduce.engine.seed_everything` so that its initial weights
        depend on the seed only. A resumed run's checkpoint (weights,
        optimizer state, history) is restored into it first. ``test_data``
        ``(x_test, y_test)``, when given, is checked too, becomes part of
        the configuration a resumed run must match, and is scored in inference
        mode after each epoch (``test_loss``/``test_accuracy`` in the history;
        :mod:`reproduce.engine.inference`), without touching training.
        """
        if self._lock is None:
            raise RuntimeError("Run.fit is called inside `with Run(spec) as run:`")
        if self._stage is not None:
            raise RuntimeError("Run.fit is called once per run")
        arrays = (x_train, y_train, *(test_data or ()))
        check_arrays(*arrays)
        if getattr(model, "optimizer", None) is None:
            raise ValueError("build_model must return a compiled keras.Model")
        if not model.built:
            model.build((None, *x_train.shape[1:]))
        if self.spec.eager:
            model.run_eagerly = True
        adapt(model)  # Keras' fit under MultiWorkerMirroredStrategy (reproduce.engine.multiworker)
        model.summary()  # whatever the verbosity: what was trained belongs in the output
        self.model, self._stage = model, "training"
        self._sizes = (len(x_train), len(test_data[0]) if test_data else None)
        self._config = resume_config(self.spec, model, arrays)
        self._found = {
            "versions": provenance.versions(),
            "git_commit": provenance.git_commit(),
            "hardware": provenance.hardware(),
        }
        self._start_session()
        self._train_data = (x_train, y_train)
        self._train(x_train, y_train, test_data)
        return [dict(row) for row in self.progress.history]

    def evaluate(self, model, x_test, y_test) -> dict:
        """Keras' evaluation on the test set: ``{"loss": ..., "accuracy": ...}``, recorded.

        Stored as ``test_loss``/``test_accuracy`` (``None`` without samples or
        without an accuracy metric), with the checks of
        :func:`reproduce.engine.inference.final_scores`.
        """
        if self._stage is None:
            raise RuntimeError("Run.evaluate is called after Run.fit")
        self._stage = "evaluation"
        if self._evaluation_began is None:
            self._evaluation_began = time.perf_counter()
        try:  # the test set, then the final inference-mode checks
            self._scores = final_scores(
                model, (x_test, y_test), self._train_data, self.spec.batch_size
            )
        except Exception as exc:
            failure = self._failure_from(exc, "evaluation")
            if failure is not None:
                raise failure from None
            raise
        self._sizes = (self._sizes[0], len(x_test))
        return {"loss": self._scores["test_loss"], "accuracy": self._scores["test_accuracy"]}

    def record(self, values: Mapping[str, Any] | None = None, /, **more: Any) -> None:
        """Merge further results into ``metrics.json`` when the run finishes.

        E.g. ``r_style_test_accuracy``, or ``nfe`` to override the default reading.
        """
        self._recorded.update(values or {}, **more)

    # ----------------------------------------------------------- training

    def _start_session(self) -> None:
        state = self._state
        if state is not None:
            check_config(
                self.spec, self._config, state.get("config") or {}, int(state.get("epoch", 0))
            )
            restore_weights(self.model, self.checkpoint_dir, state)
            self.progress.restore(state)
            self._saved_epoch = self.progress.epochs_done
            self.log(
                f"Resuming {self.run_dir} after epoch {self.progress.epochs_done} of {self.spec.epochs}."
            )
        else:
            self.log(
                f"Training into {self.run_dir}: {self.spec.epochs} epochs. Command: {self.command}"
            )
        self.progress.start_session(self._found)
        write_history(self.run_dir, self.progress.history)
        self._write_status(RUNNING)

    def _train(self, x_train, y_train, test_data) -> None:
        """Train the remaining epochs in one ``fit`` call (see :mod:`reproduce.engine.pipeline`)."""
        from reproduce.engine.driver import EpochDriver  # imports Keras
        from reproduce.engine.pipeline import epochs_dataset
        from reproduce.engine.seeding import epoch_orders

        spec, start = self.spec, self.progress.epochs_done
        n = len(x_train)
        steps = math.ceil(n / spec.batch_size)
        if start >= spec.epochs:
            return
        orders = epoch_orders(spec.train_seed, start, spec.epochs, n, spec.shuffle)
        dataset = epochs_dataset(x_train, y_train, orders, spec.batch_size)
        driver = EpochDriver(
            seed=spec.train_seed,
            steps=steps,
            request=self.request,
            on_epoch_completed=self._epoch_completed,
            diagnose=epoch_diagnostic(self.model, test_data, spec.batch_size),
        )
        with graceful_signals(self.request):
            try:
                self.model.fit(
                    dataset,
                    epochs=spec.epochs,
                    initial_epoch=start,
                    steps_per_epoch=steps,
                    shuffle=False,  # the dataset carries the seeded order
                    verbose=spec.verbose,
                    callbacks=[driver, *spec.callbacks],
                )
            except Exception as exc:
                batch = (driver.batches_done + 1, steps)
                failure = self._failure_from(exc, "training", batch)
                if failure is not None:
                    raise failure from None
                raise
        if driver.bad_batch is not None:
            epoch = driver.bad_epoch or self.progress.epochs_done + 1
            raise self._fail("nan", nan_message(epoch, driver.bad_batch, steps, driver.bad_loss))
        if self.request:
            raise self._interrupted(f"{self.request.signal_name} received")

    def _epoch_completed(self, epoch: int, logs: Mapping[str, Any], seconds: float) -> None:
        """Record a complete epoch (0-based ``epoch``): history, checkpoint, files, log."""
        row = self.progress.add_epoch(epoch, logs, seconds)
        try:
            save_checkpoint(self.checkpoint_dir, self.model, self._config, self.progress)
        except BaseException:
            self.progress.forget_last_epoch()  # what is written next must not claim it
            raise
        self._saved_epoch = self.progress.epochs_done
        write_history(self.run_dir, self.progress.history)
        self._write_status(RUNNING)
        shown = "  ".join(f"{k}={v:.6g}" for k, v in row.items() if k != "epoch")
        self.log(f"epoch {epoch + 1}/{self.spec.epochs}  {shown}  ({seconds:.2f} s)", echo=False)

    # ----------------------------------------------------------- endings

    def _finish(self) -> None:
        """Write every result, then status "finished" (the commit), then drop the checkpoint.

        Any write may fail (a full disk): until the status is written, the
        folder still says "running" and keeps its checkpoint, so the same
        command resumes and finishes the run without training again.
        """
        began = self._evaluation_began
        results = {**self._scores, "nfe": nfe_reading(self.model, self.progress.history)}
        results.update(self._recorded)
        results["_evaluation_s"] = time.perf_counter() - began if began is not None else 0.0
        self.progress.results = results
        saved = save_model_file(self.model, self.run_dir / MODEL_FILE, self.log)
        results["model_file"] = MODEL_FILE if saved else None
        write_history(self.run_dir, self.progress.history)
        metrics = self._build_metrics(FINISHED)
        self._write_curves(FINISHED)
        scores = [
            f"test {name} {metrics[key]:.4f}"
            for name, key in (("accuracy", "test_accuracy"), ("loss", "test_loss"))
            if metrics.get(key) is not None
        ]
        done = f"Finished {self.progress.epochs_done} epochs in {self.run_dir}: " + ", ".join(
            scores
        )
        self.log(done, echo=False)
        write_metrics(self.run_dir, metrics)
        self._metrics = metrics
        self._ended = True
        shutil.rmtree(self.checkpoint_dir, ignore_errors=True)
        print(done, flush=True)

    def _failure_from(
        self, exc: Exception, stage: str, batch: tuple[int, int] | None = None
    ) -> TrainingFailed | None:
        """The :class:`TrainingFailed` that ``exc`` means (status written), or ``None`` for a bug.

        ``batch``: ``(batch, steps)``, 1-based, of the epoch that was training.
        """
        epoch = self.progress.epochs_done + 1
        solver = solver_failure(exc)
        if solver is not None:
            return self._fail("solver", solver_message(stage, epoch, solver, batch))
        if out_of_memory(exc):
            return self._fail("memory", memory_message(stage, epoch, exc))
        return None

    def _fail(self, kind: str, message: str) -> TrainingFailed:
        self.progress.error, self.progress.error_kind = message, kind
        metrics = self._write_status(FAILED)
        self._write_curves(FAILED)
        self._ended = True
        self.log(f"FAILED: {message}", echo=False)
        return TrainingFailed(message, metrics)

    def _interrupted(self, what: str) -> TrainingInterrupted:
        metrics = self._write_status(INTERRUPTED)
        self._write_curves(INTERRUPTED)
        self._ended = True
        message = (
            f"{what}: stopped after epoch {self.progress.epochs_done} of {self.spec.epochs}; the "
            f"run is saved in {self.run_dir}.\nResume it with: {self.resume_with}"
        )
        self.log(message)
        return TrainingInterrupted(message, metrics, self.resume_with)

    # ----------------------------------------------------------- files

    def _write_status(self, status: str) -> dict:
        metrics = self._build_metrics(status)
        write_metrics(self.run_dir, metrics)
        self._metrics = metrics
        return metrics

    def _build_metrics(self, status: str) -> dict:
        return build_metrics(
            status,
            spec=self.spec,
            progress=self.progress,
            model=self.model,
            command=(self.command, self.argv),
            found=self._found,
            sizes=self._sizes,
        )

    def _write_curves(self, status: str) -> None:
        history = self.progress.history
        if not history:
            return
        from reproduce.engine.curves import plot_history

        plot_history(
            {key: [row.get(key) for row in history] for key in history[0]},
            self.run_dir / CURVES_FILE,
            curves_title(self.spec, len(history), status),
        )
