"""One training run into a run folder: ``with Run(config, data) as run: run.fit(...); run.evaluate(...)``.

Leaving the block after ``fit`` writes every result, then status "finished" (the commit), then drops
the checkpoint. A signal ends it "interrupted", a failure the user can act on "failed" with one
line, an unwritable folder one line with the checkpoint kept; a bug "failed", re-raised."""

import contextlib
import math
import sys
import time
from pathlib import Path

import numpy as np

from reproduce import atomic, inference, provenance
from reproduce import run_folder as rf
from reproduce._quiet import quiet_tensorflow
from reproduce.curves import plot_history
from reproduce.engine import distribution, failures
from reproduce.engine.config import RunConfig
from reproduce.errors import ReproduceError, first_line
from reproduce.inference import accuracy_key, nfe_reading, predicted_class_shares, scores

# Results a run fills when it finishes (``None`` before); settings metrics.json repeats.
_RESULTS = (
    "test_loss test_accuracy train_loss_inference train_accuracy_inference "
    "predicted_class_shares r_style_test_accuracy nfe"
).split()
_SETTINGS = (
    "batch_size seed train_seed quick deterministic shuffle quick_shrank sample_kind semantics "
    "limit_train limit_test validation"
).split()


class Run:
    """A training run of ``config`` into ``run_dir`` (default ``config.run_dir(data["kind"])``);
    ``data``: ``DataSource.to_dict()`` of the data, recorded and compared; ``callbacks``: Keras'."""

    def __init__(self, config: RunConfig, data: dict | None = None, *, run_dir=None, callbacks=()):
        self.config, self.data, self.callbacks = config, dict(data) if data else None, [*callbacks]
        run_dir = Path(run_dir) if run_dir else config.run_dir((data or {}).get("kind"))
        self.run_dir = distribution.worker_dir(run_dir, config.distribute)
        self.tensorboard = config.tensorboard and str(Path(config.tensorboard) / run_dir.name)
        self.command, self.resume_with = config.commands()
        self.history, self.epoch_seconds, self.sessions = [], [], []
        self.model = self.state = self.stage = self.metrics = self.error = self.driver = None
        self.facts, self.found, self.stop = {}, {}, {}  # stop: {"signal": "SIGINT"} once one came
        self.results, self.n_test = {"test_loss": None, "test_accuracy": None}, None
        self.started, self.ended, self.evaluation_began = provenance.utc_now(), False, None

    def __enter__(self) -> "Run":
        quiet_tensorflow()
        import tensorflow as tf

        from reproduce.engine import checkpoint

        self._lock = contextlib.ExitStack()
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._lock.enter_context(failures.exclusive(self.run_dir))
            for leftover in [*self.run_dir.glob(".*.tmp-*"), *self.run_dir.glob("*/.*.tmp-*")]:
                with contextlib.suppress(OSError):  # what a killed atomic writer left
                    leftover.unlink()
            self.state = checkpoint.previous_state(self)
            if self.config.deterministic:
                tf.config.experimental.enable_op_determinism()
        except BaseException as exc:
            self._lock.close()
            if failures.is_write_failure(exc):  # e.g. the log of a start-over, on a full disk
                raise ReproduceError(failures.write_failure_message(exc, None)) from None
            raise
        return self

    def __exit__(self, kind, exc, traceback) -> bool:
        with self._lock:  # released however the block ends
            if self.stage is not None and not self.ended:
                try:
                    if exc is not None:
                        raise exc
                    self._finish()
                except BaseException as error:
                    self._end_on(error)
                    raise
        return False

    def fit(self, model, x_train, y_train, *, test_data=None) -> list[dict]:
        """Train ``model`` (compiled, built right after ``seed_everything``) for the missing epochs;
        ``test_data`` is scored in inference mode after each. Returns the whole history."""
        from reproduce.engine import checkpoint

        if self.stage is not None:
            raise RuntimeError("Run.fit is called once per run")
        epochs, arrays = self.config.epochs, (x_train, y_train, *(test_data or ()))
        check_arrays(*arrays)
        if getattr(model, "optimizer", None) is None:
            raise ValueError("build_model must return a compiled keras.Model")
        if not model.built:
            model.build((None, *x_train.shape[1:]))
        model.run_eagerly = self.config.eager or model.run_eagerly
        self.facts, self.train_data = checkpoint.facts(model, arrays, self.data), (x_train, y_train)
        self.model, self.stage = distribution.adapt(model), "training"
        self.n_test = self.facts["n_test"]
        self.found = {"git_commit": provenance.git_commit(), "hardware": provenance.hardware()}
        self.found["versions"] = provenance.versions()
        if self.state is not None:
            checkpoint.resume(self)
        else:
            self.log(f"Training into {self.run_dir}: {epochs} epochs. Command: {self.command}")
        lines, summary = [], self.run_dir / rf.SUMMARY_FILE
        model.summary(print_fn=lambda line, **_: lines.append(line))
        atomic.atomic_write_text(summary, "\n".join(lines) + "\n")
        print(f"{model.name}: {model.count_params():,} parameters; layers in {summary}")
        start, found = len(self.history), self.found
        session = {"date": provenance.utc_now(), "start_epoch": start, "end_epoch": start}
        self.sessions.append(session | {k: found[k] for k in ("hardware", "git_commit")})
        rf.write_history(self.run_dir, self.history)
        self._write_status(rf.RUNNING)
        self._train(x_train, y_train, test_data)
        return [dict(row) for row in self.history]

    def evaluate(self, model, x_test, y_test) -> dict:
        """The test set's ``{"loss", "accuracy"}`` in inference mode, recorded with the final checks."""
        if self.stage is None:
            raise RuntimeError("Run.evaluate is called after Run.fit")
        self.stage, results, size = "evaluation", self.results, self.config.batch_size
        self.evaluation_began = self.evaluation_began or time.perf_counter()
        self.n_test = len(x_test)
        if len(x_test):
            results["test_loss"], results["test_accuracy"] = scores(model, x_test, y_test, size)
            results["predicted_class_shares"] = predicted_class_shares(model, x_test, size)
        loss, accuracy = scores(model, *self.train_data, size)
        results.update(train_loss_inference=loss, train_accuracy_inference=accuracy)
        return {"loss": results["test_loss"], "accuracy": results["test_accuracy"]}

    def record(self, **results) -> None:
        """Merge results (e.g. ``r_style_test_accuracy``, ``nfe``) into ``metrics.json``."""
        self.results.update(results)

    def log(self, message: str, *, echo: bool = True) -> None:
        """Print ``message`` and append it, timestamped, to ``log.txt``."""
        if echo:
            print(message, flush=True)
        path, stamp = self.run_dir / rf.LOG_FILE, provenance.utc_now()
        with atomic.naming_failures(path), open(path, "a", encoding="utf-8") as handle:
            handle.writelines(f"{stamp}  {line}\n" for line in message.splitlines() or [""])

    def _train(self, x_train, y_train, test_data) -> None:
        from reproduce.engine import checkpoint

        config, start = self.config, len(self.history)
        steps = math.ceil(len(x_train) / config.batch_size)
        diagnose = inference.epoch_diagnostic(self.model, test_data, config.batch_size)
        driver = self.driver = checkpoint.Checkpoint(self, steps, diagnose)
        if start >= config.epochs:  # every epoch saved: restore, and on to the evaluation
            driver.set_model(self.model)
            return driver.on_train_begin()
        callbacks = [driver, *self.callbacks]
        if self.tensorboard:
            callbacks.append(checkpoint.CompletedEpochsTensorBoard(self.tensorboard))
        verbose = 2 if config.verbose == 1 and not sys.stdout.isatty() else config.verbose
        data = checkpoint.epochs_dataset(x_train, y_train, config, start)
        with failures.graceful_signals(self.stop):  # the data is in its seeded order
            fit = dict(initial_epoch=start, steps_per_epoch=steps, verbose=verbose, shuffle=False)
            self.model.fit(data, epochs=config.epochs, callbacks=callbacks, **fit)
        if driver.bad is not None:
            epoch, batch, loss = driver.bad
            epoch = epoch or len(self.history) + 1
            kept = f"epochs 1-{epoch - 1} are kept" if epoch > 2 else "epoch 1 is kept"
            message = (
                f"the training loss became {loss} at epoch {epoch}, batch {batch} of {steps}; "
                f"the run stopped there ({kept if epoch > 1 else 'no epoch was completed'}). "
                "Likely cause: a learning rate too high for this model (lower it); for an ODE "
                "model also a solver tolerance too loose for the dynamics (lower rtol/atol) or "
                "a fixed step too large."
            )
            raise self._end(message, "nan")
        if self.stop:
            raise self._end(f"{self.stop['signal']} received")

    def epoch_completed(self, row: dict, seconds: float) -> None:
        """After the checkpoint of ``row``'s epoch is saved: history, metrics, log."""
        self.history.append(row)
        self.epoch_seconds.append(seconds)
        self.sessions[-1]["end_epoch"] = len(self.history)
        rf.write_history(self.run_dir, self.history)
        self._write_status(rf.RUNNING)
        shown = "  ".join(f"{k}={v:.6g}" for k, v in row.items() if k != "epoch")
        line = f"epoch {row['epoch']}/{self.config.epochs}  {shown}  ({seconds:.2f} s)"
        self.log(line, echo=False)

    def _finish(self) -> None:
        """Every result, then status "finished" (a write failing before leaves the run resumable)."""
        from reproduce.engine.checkpoint import model_bytes

        results, began = self.results, self.evaluation_began
        results["_evaluation_s"] = time.perf_counter() - began if began else 0.0
        results.setdefault("nfe", nfe_reading(self.model, self.history))
        try:
            atomic.atomic_write_bytes(self.run_dir / rf.MODEL_FILE, model_bytes(self.model))
            results["model_file"] = rf.MODEL_FILE
        except OSError:
            raise
        except Exception as exc:  # the results must not be lost for it
            results["model_file"], message = None, first_line(exc)
            self.log(f"warning: the trained model could not be saved as model.keras: {message}")
        rf.write_history(self.run_dir, self.history)
        metrics = self._metrics(rf.FINISHED)
        self._write_curves(rf.FINISHED)
        tested = [k for k in ("accuracy", "loss") if metrics[f"test_{k}"] is not None]
        scored = "held-out validation" if self.config.validation else "test"
        scores = ", ".join(f"{scored} {k} {metrics[f'test_{k}']:.4f}" for k in tested)
        done = f"Finished {len(self.history)} epochs in {self.run_dir}: {scores}"
        self.log(done, echo=False)
        atomic.atomic_write_json(self.run_dir / rf.METRICS_FILE, metrics)
        self.metrics, self.ended = metrics, True
        rf.drop_checkpoint(self.run_dir)
        print(done, flush=True)

    def _end_on(self, exc: BaseException) -> None:
        """Raise what ``exc`` means to the user, or write status "failed" for a bug and return."""
        if isinstance(exc, (ReproduceError, failures.TrainingInterrupted)):
            return
        if isinstance(exc, KeyboardInterrupt):  # outside the guarded fit, e.g. in evaluation
            raise self._end("Interrupted") from None
        if failures.is_write_failure(exc):
            message = failures.write_failure_message(exc, len(self.history), self.config.epochs)
            self.error = (message, "write")
            with contextlib.suppress(OSError):  # where a small file still fits: say why
                self._write_status(rf.FAILED)
            raise ReproduceError(message) from None
        if not isinstance(exc, Exception):
            return
        where = f"epoch {len(self.history) + 1}"
        if self.stage == "training" and self.driver is not None:
            where += f", batch {self.driver.batches_done + 1} of {self.driver.steps}"
        if (failed := failures.user_failure(exc, self.stage, where)) is not None:
            raise self._end(*failed) from None
        self.error = (f"{type(exc).__name__}: {first_line(exc)}", "error")
        with contextlib.suppress(Exception):
            self._write_status(rf.FAILED)
            self.log(f"FAILED: {self.error[0]}", echo=False)

    def _end(self, message: str, kind: str | None = None):
        """Status "failed" (``kind``: nan, solver, memory), else "interrupted"; the exception to raise."""
        if kind:
            self.error = (message, kind)
        else:
            message = (
                f"{message}: stopped after epoch {len(self.history)} of {self.config.epochs}; the "
                f"run is saved in {self.run_dir}.\nResume it with: {self.resume_with}"
            )
        metrics = self._write_status(rf.FAILED if kind else rf.INTERRUPTED)
        self._write_curves(rf.FAILED if kind else rf.INTERRUPTED)
        self.ended = True
        self.log(f"FAILED: {message}" if kind else message, echo=not kind)
        interrupted = failures.TrainingInterrupted(message, metrics, self.resume_with)
        return failures.TrainingFailed(message, metrics) if kind else interrupted

    def _write_status(self, status: str) -> dict:
        self.metrics = self._metrics(status)
        atomic.atomic_write_json(self.run_dir / rf.METRICS_FILE, self.metrics)
        return self.metrics

    def _metrics(self, status: str) -> dict:
        """``metrics.json``: configuration, results (``None`` until known), provenance."""
        config, model, last = self.config, self.model, self.history[-1] if self.history else {}
        trained, done, key = sum(self.epoch_seconds), len(self.history), accuracy_key(last)
        metrics = {"model": config.model, "preprocessing": config.preprocessing, "status": status}
        metrics.update(epochs=done, epochs_planned=config.epochs, **dict.fromkeys(_RESULTS))
        metrics.update({name: getattr(config, name) for name in _SETTINGS})
        metrics.update(train_loss=last.get("loss"), train_accuracy=last.get(key) if key else None)
        metrics["params"] = int(model.count_params())
        metrics["trainable_params"] = sum(math.prod(w.shape) for w in model.trainable_weights)
        metrics["wall_time_s"] = trained + self.results.get("_evaluation_s", 0.0)
        metrics["seconds_per_epoch"] = trained / done if done else None
        argv = list(config.argv) if config.argv is not None else sys.argv
        metrics.update(command=self.command, argv=argv, data=self.data, **self.found)
        metrics.update(date=self.started, n_train=self.facts["n_train"], n_test=self.n_test)
        metrics.update(optimizer=self.facts["optimizer"], sessions=self.sessions)
        metrics["finished_at"] = provenance.utc_now() if status == rf.FINISHED else None
        optional = {"ode": config.model == "odenet" and config.ode()}
        optional["distribute"] = distribution.describe(config.distribute)
        optional["tensorboard"] = self.tensorboard
        metrics.update({k: v for k, v in optional.items() if v})
        if status == rf.FAILED:
            metrics["error"], metrics["error_kind"] = self.error
        metrics.update({k: v for k, v in self.results.items() if not k.startswith("_")})
        return rf.json_safe({**metrics, "config": config.recorded()})

    def _write_curves(self, status: str) -> None:
        config, done, kind = self.config, len(self.history), (self.data or {}).get("kind")
        data = {"real": "Kaggle data", "stand-in": "stand-in data"}.get(kind, "data")
        title = f"{config.model} ({config.preprocessing} preprocessing), {data}: "
        title += f"{done} epochs" if done == config.epochs else f"{done} of {config.epochs} epochs"
        title += ("" if status == rf.FINISHED else f", {status}") + ", quick run" * config.quick
        if done:
            plot_history(self.history, self.run_dir / rf.CURVES_FILE, title)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and Keras; call it right before building the model."""
    import keras

    keras.utils.set_random_seed(int(seed))


def check_arrays(*arrays) -> None:
    """Check ``x_train, y_train[, x_test, y_test]``: equal lengths, samples, finite values."""
    if len(arrays[0]) == 0 or any(len(x) != len(y) for x, y in zip(arrays[::2], arrays[1::2])):
        raise ValueError(f"no training samples, or inputs and labels of other lengths: {arrays}")
    names = ("training inputs", "training labels", "test inputs", "test labels")
    for name, rows in zip(names, (np.asarray(a).reshape(len(a), -1) for a in arrays)):
        floating = np.issubdtype(rows.dtype, np.floating)
        if floating and len(bad := np.flatnonzero(~np.isfinite(rows).all(axis=1))):
            raise ReproduceError(f"the {name} hold NaN or infinite values in {len(bad)} samples "
                                 f"(first: sample {int(bad[0])}); fix or drop them before "
                                 "training.")  # fmt: skip
