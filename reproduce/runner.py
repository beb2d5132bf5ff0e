"""The training engine every model run goes through: run folders, resumption, reliability.

:func:`run_training` trains a compiled Keras model and brings a *run folder*
up to date after every completed epoch::

    <run_dir>/metrics.json   status, configuration, results, provenance
    <run_dir>/history.csv    one row per completed epoch: epoch, loss, accuracy, ...
    <run_dir>/curves.png     loss and accuracy per epoch
    <run_dir>/log.txt        what the run reported, one timestamped line each
    <run_dir>/model.keras    the trained model (when finished)
    <run_dir>/checkpoint/    state.json + epoch-NNNN.weights.h5 (while unfinished)

Every file is replaced atomically (:mod:`reproduce.engine.atomic`), so a kill at any
moment leaves a readable folder that a later run can resume.

Resumption is exact. Instead of Keras' own shuffling (seeded once per
``fit``), each epoch ``e`` (0-based) visits the samples in an order drawn from
a NumPy generator seeded by ``(seed, e)`` (one ``fit`` call reads all epochs
from a ``tf.data`` pipeline), reseeds Python and NumPy from ``(seed, e)``, and
resets the state of every Keras ``SeedGenerator`` in the model (dropout
masks) from ``(seed, e)``. What epoch ``e`` does therefore depends only on the
seed, the epoch number and the weights and optimizer state at its start,
which the checkpoint restores (Keras' ``.weights.h5`` holds the optimizer's
variables: iteration counter, Adam moments). With ``deterministic=True`` a
resumed run's history equals the uninterrupted one to the last digit.

Signals: the first SIGINT (Ctrl-C) or SIGTERM asks the run to stop at the end
of the current batch. The partial epoch is dropped (its weights are not
saved), the checkpoint of the last completed epoch stays, ``metrics.json``
says ``"interrupted"``, the command that resumes is printed and
:class:`TrainingInterrupted` (a ``KeyboardInterrupt``) is raised so that a
command running several models stops too. A second signal stops the process
at once (default signal action): TensorFlow may be inside a long batch where
Python code cannot run, and the folder is consistent anyway; its status stays
``"running"``, which also resumes.

Failures the user can act on (a loss that turns NaN or infinite, an ODE solver
that gives up, memory exhausted) write status ``"failed"`` with an ``"error"``
message and raise :class:`TrainingFailed` (a :class:`ReproduceError`: one line,
exit status 2). Anything else is a bug: status ``"failed"`` is written and the
exception propagates unchanged.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import errno
import hashlib
import io
import json
import math
import os
import shlex
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from reproduce.engine import provenance
from reproduce.engine.atomic import atomic_path, atomic_write_json, atomic_write_text
from reproduce.engine.runfolder import (
    CHECKPOINT_DIR,
    CURVES_FILE,
    FAILED,
    FINISHED,
    HISTORY_FILE,
    INTERRUPTED,
    LOG_FILE,
    METRICS_FILE,
    MODEL_FILE,
    RUNNING,
    STATE_FILE,
    read_metrics,
)
from reproduce.errors import ReproduceError

__all__ = [
    "CHECKPOINT_DIR",
    "CURVES_FILE",
    "HISTORY_FILE",
    "LOG_FILE",
    "METRICS_FILE",
    "MODEL_FILE",
    "TrainingFailed",
    "TrainingInterrupted",
    "read_metrics",
    "run_training",
]


# Failures that a rerun with the same settings would repeat: such a run starts
# over instead of resuming (the user has to change something anyway).
_REPEATABLE_FAILURES = ("nan", "solver")

# Command-line switches that must not be repeated in the "resume with" command.
_NOT_FOR_RESUME = ("--force", "--no-resume")

_ACCURACY_KEYS = (
    "accuracy",
    "acc",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
)


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


# --------------------------------------------------------------------------- helpers


def _json_safe(value: Any) -> Any:
    """Plain JSON types: NumPy scalars and arrays converted, NaN/inf -> None."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return _json_safe(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _json_safe(dataclasses.asdict(value))
    return str(value)  # paths, enums, anything else: its text


def _arrays_sha256(arrays: Sequence[Any]) -> str:
    """Hash of the exact training and test arrays (shape, dtype and bytes)."""
    import numpy as np

    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _epoch_seed(seed: int, epoch: int, stream: int) -> int:
    """A seed in [1, 2**31 - 1) that depends only on (seed, epoch, stream)."""
    import numpy as np

    value = np.random.SeedSequence([int(seed), int(epoch), int(stream)]).generate_state(1)[0]
    return int(value) % (2**31 - 2) + 1


def _seed_epoch(model, seed: int, epoch: int) -> None:
    """Make everything random in epoch ``epoch`` a function of (seed, epoch).

    Python's and NumPy's global generators are reseeded, and the state of
    every Keras ``SeedGenerator`` in the model (dropout and noise layers; not
    part of saved weights) and of Keras' global one (``keras.random`` calls
    without a seed) is reset. TensorFlow's global seed is *not* reset per
    epoch: changing it makes ``tf.function`` retrace the training step (a
    fraction of a second per epoch), and Keras' random layers do not use it.
    Stateful ``tf.random`` ops in custom code are therefore the one source of
    randomness that a resumed run does not replay.
    """
    import random

    import numpy as np

    value = _epoch_seed(seed, epoch, 0)
    random.seed(value)
    np.random.seed(value)
    states = [v for v in model.variables if v.path.endswith("seed_generator_state")]
    try:
        from keras.src.backend.common import global_state

        generator = global_state.get_global_attribute("global_seed_generator")
        if generator is not None:
            states.append(generator.state)
    except (ImportError, AttributeError):  # private API: best effort
        pass
    for index, variable in enumerate(states):
        start = _epoch_seed(seed, epoch, 1000 + index)
        variable.assign(np.array([start, 0], dtype=variable.dtype))


def _epoch_order(seed: int, epoch: int, n: int):
    """The order in which epoch ``epoch`` visits the ``n`` training samples."""
    import numpy as np

    return np.random.default_rng(_epoch_seed(seed, epoch, 1)).permutation(n)


def _optimizer_summary(optimizer) -> dict:
    config = optimizer.get_config()
    rate = config.get("learning_rate")
    if not isinstance(rate, (int, float)):
        rate = repr(rate)  # a schedule: compare its description
    return {"class": type(optimizer).__name__, "learning_rate": rate}


def _count_params(variables) -> int:
    import numpy as np

    return int(sum(int(np.prod(v.shape)) for v in variables))


def _walk_layers(model):
    flatten = getattr(model, "_flatten_layers", None)
    if flatten is not None:
        return list(flatten(include_self=False, recursive=True))
    return list(getattr(model, "layers", []))


def _accuracy_key(logs: Mapping[str, Any]) -> str | None:
    for key in _ACCURACY_KEYS:
        if key in logs:
            return key
    return None


def _first_line(text: str, limit: int = 400) -> str:
    for line in str(text).splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= limit else line[: limit - 3] + "..."
    return ""


def _solver_failure(exc: BaseException) -> str | None:
    """The message of an ODE solver failure, or ``None`` if ``exc`` is something else.

    Recognised: exceptions defined in the ``odelayers`` package or whose class
    name mentions an ODE or a solver, and TensorFlow runtime errors raised by
    a solver's checks inside a compiled training step (their message names
    odelayers, an ODE solver, ``max_num_steps`` or the step size).
    """
    for cls in type(exc).__mro__:
        module = getattr(cls, "__module__", "") or ""
        if module == "odelayers" or module.startswith("odelayers."):
            return str(exc)
        if "ODE" in cls.__name__ or "Solver" in cls.__name__:
            return str(exc)
    try:
        import tensorflow as tf
    except ImportError:  # pragma: no cover - TensorFlow is a dependency
        return None
    if isinstance(exc, tf.errors.OpError):
        message = exc.message or ""
        # odelayers starts its messages with "odelayers:"; inside a graph they
        # arrive wrapped ("Graph execution error: ... assertion failed: [...]").
        start = message.find("odelayers:")
        if start >= 0:
            return message[start:].splitlines()[0].rstrip("]' \"")
        lowered = message.lower()
        if any(word in lowered for word in ("ode solver", "max_num_steps", "step size")):
            return message
    return None


def _out_of_memory(exc: BaseException) -> bool:
    try:
        import tensorflow as tf
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, (tf.errors.ResourceExhaustedError, MemoryError))


class _Log:
    """Prints a message and appends it, timestamped, to log.txt."""

    def __init__(self, path: Path):
        self.path = path

    def __call__(self, message: str, *, echo: bool = True) -> None:
        if echo:
            print(message, flush=True)
        stamp = provenance.utc_now()
        with open(self.path, "a", encoding="utf-8") as handle:
            for line in str(message).splitlines() or [""]:
                handle.write(f"{stamp}  {line}\n")


class _StopRequest:
    """Set by the signal handler; read between batches."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    def __bool__(self) -> bool:
        return self.signal_name is not None


@contextlib.contextmanager
def _graceful_signals(request: _StopRequest) -> Iterator[None]:
    """Route SIGINT/SIGTERM to ``request`` while training; restore the old handlers after.

    After the first signal both go back to the default action, so a second
    one ends the process at once. Signals a parent process set to be ignored
    stay ignored. Outside the main thread Python cannot install handlers, and
    nothing is changed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}

    def handler(signum, frame):  # noqa: ARG001 - signal handler signature
        request.signal_name = signal.Signals(signum).name
        for number in previous:
            signal.signal(number, signal.SIG_DFL)
        key = "Ctrl-C" if signum == signal.SIGINT else request.signal_name
        note = (
            f"\n{request.signal_name} received: stopping at the end of this batch and keeping the "
            f"last completed epoch. {key} again stops at once.\n"
        )
        with contextlib.suppress(OSError):
            os.write(2, note.encode())  # not print(): the main thread may be inside a print

    for number in (signal.SIGINT, signal.SIGTERM):
        current = signal.getsignal(number)
        if current in (signal.SIG_IGN, None):
            continue
        previous[number] = current
        signal.signal(number, handler)
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


@contextlib.contextmanager
def _exclusive(run_dir: Path) -> Iterator[None]:
    """Refuse to let two processes train into the same folder at once.

    An advisory ``flock`` on the directory itself (no lock file to clean up or
    commit by mistake); released by the kernel when the process dies.
    Platforms without ``fcntl`` go unchecked.
    """
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


def _make_driver(keras, run: "_Run", steps: int):
    """The callback that runs the epochs of a single ``fit`` call.

    Before each epoch it reseeds (see :func:`_seed_epoch`); after each batch it
    stops ``fit`` if the loss is not finite or a signal arrived; after each
    *complete* epoch it hands the logs to the run, which saves the checkpoint
    and the files. An epoch cut short (signal, NaN) is never recorded.
    """

    class _EpochDriver(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.batches_done = 0
            self.bad_batch: int | None = None
            self.bad_loss: float | None = None
            self.bad_epoch: int | None = None
            self.began = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            _seed_epoch(self.model, int(run.seed), int(epoch))
            self.batches_done = 0
            self.began = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.batches_done = int(batch) + 1
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                self.bad_batch, self.bad_loss = int(batch) + 1, float(loss)
                self.model.stop_training = True
            elif run.request:
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            if self.bad_batch is not None:
                self.bad_epoch = int(epoch) + 1
            elif self.batches_done == steps:
                run._epoch_completed(int(epoch), logs or {}, time.perf_counter() - self.began)
                if run.request:  # a signal during the last batch or the saving
                    self.model.stop_training = True

    return _EpochDriver()


def _epochs_dataset(x, y, orders, batch_size: int):
    """A ``tf.data`` pipeline yielding the batches of several epochs back to back.

    ``orders[i]`` is the sample order of the i-th epoch; each epoch is batched
    on its own (its last batch may be smaller), so epochs never share a batch.
    """
    import tensorflow as tf

    # tf.data runs on the CPU: keep the arrays there (eagerly created tensors
    # would otherwise go to the GPU, and every batch would cross twice).
    with tf.device("/CPU:0"):
        x_all = tf.convert_to_tensor(x)
        y_all = tf.convert_to_tensor(y)
    epochs = tf.data.Dataset.from_tensor_slices(orders)
    batches = epochs.flat_map(lambda order: tf.data.Dataset.from_tensor_slices(order).batch(batch_size))
    pairs = batches.map(lambda index: (tf.gather(x_all, index), tf.gather(y_all, index)))
    return pairs.prefetch(2)


def _history_csv(rows: list[dict[str, float]]) -> str:
    """CSV text: ``epoch`` first, then ``loss``, then the other keys in Keras' order."""
    columns: list[str] = ["epoch"]
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    if "loss" in columns:
        columns.remove("loss")
        columns.insert(1, "loss")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        # repr(float) is the shortest text that reads back as the same float.
        writer.writerow(["" if row.get(c) is None else repr(row[c]) for c in columns])
    return out.getvalue()


def _resume_command(command: str) -> str:
    try:
        words = shlex.split(command)
    except ValueError:
        return command
    return shlex.join(w for w in words if w not in _NOT_FOR_RESUME)


def _remove_run_files(run_dir: Path) -> None:
    """Remove what a previous run wrote (and nothing else) before starting over."""
    for name in (METRICS_FILE, HISTORY_FILE, CURVES_FILE, LOG_FILE, MODEL_FILE):
        with contextlib.suppress(FileNotFoundError):
            (run_dir / name).unlink()
    shutil.rmtree(run_dir / CHECKPOINT_DIR, ignore_errors=True)


def _remove_stale_temporaries(directory: Path) -> None:
    """Delete temporary files a killed writer left behind (see reproduce.engine.atomic)."""
    if directory.is_dir():
        for leftover in directory.glob(".*.tmp-*"):
            with contextlib.suppress(OSError):
                leftover.unlink()


# --------------------------------------------------------------------------- the run


class _Run:
    """One call of :func:`run_training`; see its docstring."""

    def __init__(self, **options: Any) -> None:
        self.__dict__.update(options)
        self.run_dir = Path(self.run_dir)
        self.checkpoint_dir = self.run_dir / CHECKPOINT_DIR
        self.metadata = dict(self.metadata or {})
        self.log = _Log(self.run_dir / LOG_FILE)
        self.history: list[dict[str, float]] = []
        self.epoch_seconds: list[float] = []
        self.sessions: list[dict] = []
        self.started = provenance.utc_now()
        self.request = _StopRequest()
        self.model = None
        self.results: dict[str, Any] = {}
        self.error: str | None = None
        self.error_kind: str | None = None

        argv = self.metadata.get("argv")
        command = self.metadata.get("command")
        if command is None:
            command = provenance.command_line(list(argv) if argv is not None else None)
        if argv is None:
            argv = list(sys.argv)
        self.command = str(command)
        self.argv = [str(a) for a in argv]
        self.resume_with = str(self.metadata.get("resume_command") or _resume_command(self.command))

    # ----------------------------------------------------------- set-up

    def _validate(self) -> None:
        x_train, y_train, x_test, y_test = self.data
        if len(x_train) != len(y_train) or len(x_test) != len(y_test):
            raise ValueError(
                f"inputs and labels differ in length: train {len(x_train)} vs {len(y_train)}, "
                f"test {len(x_test)} vs {len(y_test)}"
            )
        if len(x_train) == 0:
            raise ValueError("no training samples")
        if int(self.epochs) < 1 or int(self.batch_size) < 1:
            raise ValueError(f"epochs ({self.epochs}) and batch_size ({self.batch_size}) must be >= 1")
        if not 0 <= int(self.seed) < 2**32:
            raise ReproduceError(f"the seed must be an integer in [0, 2**32), not {self.seed}")
        self._check_finite()

    def _check_finite(self) -> None:
        """Refuse NaN or infinite inputs or labels: they would only show up as a NaN loss later."""
        import numpy as np

        names = ("training inputs", "training labels", "test inputs", "test labels")
        for name, array in zip(names, self.data):
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

    def _previous_state(self) -> dict | None:
        """Decide between a fresh start and resuming; return the checkpoint state to resume."""
        if self.force:
            _remove_run_files(self.run_dir)
            return None
        previous = read_metrics(self.run_dir)
        if previous is None:
            _remove_run_files(self.run_dir)  # stray history/checkpoint without metrics
            return None
        status = previous.get("status")
        if status == FINISHED:
            accuracy = previous.get("test_accuracy")
            score = f", test accuracy {accuracy:.4f}" if isinstance(accuracy, (int, float)) else ""
            raise ReproduceError(
                f"{self.run_dir} already holds a finished run ({previous.get('epochs')} epochs"
                f"{score}). Add --force to overwrite it, or choose another output folder."
            )
        state_path = self.checkpoint_dir / STATE_FILE
        if status not in (RUNNING, INTERRUPTED, FAILED):
            reason = f"its status {status!r} is unknown"
        elif status == FAILED and previous.get("error_kind") in _REPEATABLE_FAILURES:
            reason = "it failed in a way resuming would repeat"
        elif not state_path.exists():
            reason = "it had not completed an epoch"
        elif not self.resume:
            reason = "resuming is off"
        else:
            reason = None
        if reason is not None:
            _remove_run_files(self.run_dir)
            self.log(f"Starting over in {self.run_dir}: the run there was not finished and {reason}.")
            return None
        try:
            state = json.loads(state_path.read_text(encoding="utf-8"))
            weights = self.checkpoint_dir / state["weights"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ReproduceError(
                f"the checkpoint in {self.checkpoint_dir} is unreadable ({err}); add --force to "
                "start the run over."
            ) from None
        if not weights.exists():
            raise ReproduceError(
                f"the checkpoint in {self.checkpoint_dir} lacks {weights.name}; add --force to "
                "start the run over."
            )
        return state

    def _config(self) -> dict:
        """The settings that must match for a stored run to be resumed."""
        x_train, y_train, x_test, y_test = self.data
        data = self.metadata.get("data") or {}
        config = {
            "model": self.metadata.get("model"),
            "preprocessing": self.metadata.get("preprocessing"),
            "quick": self.metadata.get("quick"),
            "epochs_planned": int(self.epochs),
            "batch_size": int(self.batch_size),
            "seed": int(self.seed),
            "shuffle": bool(self.shuffle),
            "data_sha256": data.get("sha256") if isinstance(data, Mapping) else None,
            "arrays_sha256": _arrays_sha256(self.data),
            "n_train": len(x_train),
            "n_test": len(x_test),
            "params": int(self.model.count_params()),
            "optimizer": _optimizer_summary(self.model.optimizer),
        }
        extra = self.metadata.get("config") or {}
        config.update({f"config.{key}": value for key, value in extra.items()})
        return _json_safe(config)

    def _check_config(self, stored: dict, epochs_done: int) -> None:
        differences = [
            f"{key}: {stored.get(key)!r} there, {value!r} here"
            for key, value in self.config.items()
            if stored.get(key) != value
        ]
        differences += [f"{key}: {stored[key]!r} there, absent here" for key in stored if key not in self.config]
        if differences:
            raise ReproduceError(
                f"{self.run_dir} holds an unfinished run ({epochs_done} of "
                f"{stored.get('epochs_planned')} epochs) with other settings ("
                + "; ".join(differences)
                + "). Rerun with that run's settings to resume it, add --force to start over, "
                "or choose another output folder."
            )

    def _build(self):
        import keras

        keras.utils.set_random_seed(int(self.seed))
        model = self.build_model()
        if getattr(model, "optimizer", None) is None:
            raise ValueError("build_model must return a compiled keras.Model")
        if not model.built:
            model.build((None, *self.data[0].shape[1:]))
        return model

    # ----------------------------------------------------------- files

    def _metrics(self, status: str) -> dict:
        meta = self.metadata
        data = meta.get("data")
        last = self.history[-1] if self.history else {}
        accuracy_key = _accuracy_key(last)
        trained = sum(self.epoch_seconds)
        completed = len(self.history)
        metrics = {
            "model": meta.get("model"),
            "preprocessing": meta.get("preprocessing"),
            "status": status,
            "epochs": completed,
            "epochs_planned": int(self.epochs),
            "batch_size": int(self.batch_size),
            "seed": int(self.seed),
            "quick": bool(meta.get("quick", False)),
            "test_loss": None,
            "test_accuracy": None,
            "train_loss": last.get("loss"),
            "train_accuracy": last.get(accuracy_key) if accuracy_key else None,
            "r_style_test_accuracy": None,
            "params": int(self.model.count_params()) if self.model is not None else None,
            "trainable_params": (
                _count_params(self.model.trainable_weights) if self.model is not None else None
            ),
            "wall_time_s": trained + self.results.get("_evaluation_s", 0.0),
            "seconds_per_epoch": trained / completed if completed else None,
            "nfe": None,
            "command": self.command,
            "argv": self.argv,
            "data": data,
            "versions": self.provenance["versions"],
            "git_commit": self.provenance["git_commit"],
            "date": self.started,
            "hardware": self.provenance["hardware"],
            "deterministic": bool(self.deterministic),
            "shuffle": bool(self.shuffle),
            "n_train": len(self.data[0]),
            "n_test": len(self.data[2]),
            "optimizer": _optimizer_summary(self.model.optimizer) if self.model is not None else None,
            "sessions": self.sessions,
            "finished_at": provenance.utc_now() if status == FINISHED else None,
        }
        if status == FAILED:
            metrics["error"] = self.error
            metrics["error_kind"] = self.error_kind
        reserved = set(metrics) - {"r_style_test_accuracy", "nfe"}
        for key, value in meta.items():
            if key not in reserved and key not in ("config", "resume_command"):
                metrics[key] = value
        metrics.update({k: v for k, v in self.results.items() if not k.startswith("_")})
        return _json_safe(metrics)

    def _write_status(self, status: str) -> dict:
        metrics = self._metrics(status)
        atomic_write_json(self.run_dir / METRICS_FILE, metrics)
        return metrics

    def _write_history(self) -> None:
        atomic_write_text(self.run_dir / HISTORY_FILE, _history_csv(self.history))

    def _write_curves(self, status: str) -> None:
        if not self.history:
            return
        from reproduce.engine.curves import plot_history

        plot_history(
            {key: [row.get(key) for row in self.history] for key in self.history[0]},
            self.run_dir / CURVES_FILE,
            self._title(status),
        )

    def _title(self, status: str) -> str:
        meta = self.metadata
        name = str(meta.get("model") or "model")
        if meta.get("preprocessing"):
            name += f" ({meta['preprocessing']} preprocessing)"
        data = meta.get("data") or {}
        kind = data.get("kind") if isinstance(data, Mapping) else None
        data_text = {"real": "Kaggle data", "stand-in": "stand-in data"}.get(kind, "data")
        done = len(self.history)
        epochs = f"{done} epochs" if done == int(self.epochs) else f"{done} of {self.epochs} epochs"
        if status != FINISHED:
            epochs += f", {status}"
        quick = ", quick run" if meta.get("quick") else ""
        return f"{name}, {data_text}: {epochs}{quick}"

    def _save_checkpoint(self) -> None:
        epoch = len(self.history)
        self.checkpoint_dir.mkdir(exist_ok=True)
        name = f"epoch-{epoch:04d}.weights.h5"
        with atomic_path(self.checkpoint_dir / name) as tmp:
            self.model.save_weights(tmp)
        state = {
            "format": 1,
            "epoch": epoch,
            "weights": name,
            "config": self.config,
            "history": self.history,
            "epoch_seconds": self.epoch_seconds,
            "sessions": self.sessions,
            "date": self.started,
        }
        # The state names the weights file, so it is written after it: a kill in
        # between leaves the previous state pointing at the previous weights.
        atomic_write_json(self.checkpoint_dir / STATE_FILE, _json_safe(state))
        for old in self.checkpoint_dir.glob("epoch-*.weights.h5"):
            if old.name != name:
                with contextlib.suppress(OSError):
                    old.unlink()

    # ----------------------------------------------------------- training

    def _restore(self, state: dict) -> None:
        self._check_config(state.get("config") or {}, int(state.get("epoch", 0)))
        optimizer = self.model.optimizer
        if not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        try:
            self.model.load_weights(self.checkpoint_dir / state["weights"])
        except Exception as err:  # h5py/Keras raise many types for a damaged file
            raise ReproduceError(
                f"cannot load the checkpoint {self.checkpoint_dir / state['weights']} ({err}); "
                "add --force to start the run over."
            ) from None
        self.history = [dict(row) for row in state.get("history", [])]
        self.epoch_seconds = [float(s) for s in state.get("epoch_seconds", [])]
        self.sessions = list(state.get("sessions", []))
        self.started = state.get("date") or self.started

    def _fail(self, kind: str, message: str) -> TrainingFailed:
        self.error, self.error_kind = message, kind
        metrics = self._write_status(FAILED)
        self._write_curves(FAILED)
        self.log(f"FAILED: {message}", echo=False)
        return TrainingFailed(message, metrics)

    def _interrupted(self, what: str) -> TrainingInterrupted:
        metrics = self._write_status(INTERRUPTED)
        self._write_curves(INTERRUPTED)
        done = len(self.history)
        message = (
            f"{what}: stopped after epoch {done} of {self.epochs}; the run is saved in "
            f"{self.run_dir}.\nResume it with: {self.resume_with}"
        )
        self.log(message)
        return TrainingInterrupted(message, metrics, self.resume_with)

    def _failure_from_exception(self, exc: Exception, stage: str) -> TrainingFailed | None:
        solver = _solver_failure(exc)
        if solver is not None:
            return self._fail(
                "solver",
                f"the ODE solver gave up during {stage} (epoch {len(self.history) + 1}): "
                f"{_first_line(solver)}. What to change: loosen the tolerances (rtol/atol) or raise "
                "max_num_steps if it ran out of steps; if the step size underflowed or the state "
                "became non-finite, the dynamics are stiff or blowing up: try the 'bdf' solver, a "
                "lower learning rate, or a fixed-step method.",
            )
        if _out_of_memory(exc):
            return self._fail(
                "memory",
                f"out of memory during {stage} (epoch {len(self.history) + 1}): "
                f"{_first_line(getattr(exc, 'message', '') or str(exc))}. Lower the batch size.",
            )
        return None

    def _epoch_completed(self, epoch: int, logs: Mapping[str, Any], seconds: float) -> None:
        """Record a complete epoch (0-based ``epoch``): history, checkpoint, files, log."""
        row: dict[str, float] = {"epoch": epoch + 1}
        for key, value in logs.items():
            with contextlib.suppress(TypeError, ValueError):
                row[key] = float(value)
        self.history.append(row)
        self.epoch_seconds.append(seconds)
        self.sessions[-1]["end_epoch"] = len(self.history)
        self._save_checkpoint()
        self._write_history()
        self._write_status(RUNNING)
        shown = "  ".join(f"{k}={v:.6g}" for k, v in row.items() if k != "epoch")
        self.log(f"epoch {epoch + 1}/{self.epochs}  {shown}  ({seconds:.2f} s)", echo=False)

    def _train_epochs(self, start: int) -> None:
        """Train epochs ``start``..``epochs - 1`` in one ``fit`` call."""
        import keras
        import numpy as np

        x_train, y_train, _, _ = self.data
        n = len(x_train)
        steps = math.ceil(n / int(self.batch_size))
        if start >= int(self.epochs):
            return
        if self.shuffle:
            orders = np.stack([_epoch_order(int(self.seed), e, n) for e in range(start, int(self.epochs))])
        else:
            orders = np.tile(np.arange(n), (int(self.epochs) - start, 1))
        dataset = _epochs_dataset(x_train, y_train, orders.astype(np.int32), int(self.batch_size))
        driver = _make_driver(keras, self, steps)
        with _graceful_signals(self.request):
            try:
                self.model.fit(
                    dataset,
                    epochs=int(self.epochs),
                    initial_epoch=start,
                    steps_per_epoch=steps,
                    shuffle=False,  # the dataset carries the seeded order
                    verbose=self.verbose,
                    callbacks=[driver, *(self.callbacks or [])],
                )
            except Exception as exc:
                failure = self._failure_from_exception(exc, "training")
                if failure is not None:
                    raise failure from None
                raise
        if driver.bad_batch is not None:
            epoch = driver.bad_epoch or len(self.history) + 1
            kept = {1: "no epoch was completed", 2: "epoch 1 is kept"}.get(epoch, f"epochs 1-{epoch - 1} are kept")
            raise self._fail(
                "nan",
                f"the training loss became {driver.bad_loss} at epoch {epoch}, batch "
                f"{driver.bad_batch} of {steps}; the run stopped there ({kept}). Likely cause: a "
                "learning rate too high for this model (lower it); for an ODE model also a solver "
                "tolerance too loose for the dynamics (lower rtol/atol) or a fixed step too large.",
            )
        if self.request:
            raise self._interrupted(f"{self.request.signal_name} received")

    def _nfe(self) -> dict | None:
        """NFE of the model's ODE blocks: last forward solve, and mean over the history.

        ``last_forward`` sums ``layer.nfe`` over the layers that expose it,
        read after the final evaluation (the forward solve of its last batch);
        ``mean_forward`` is the mean of the history's ``nfe`` column (Keras'
        per-epoch value of the metric), or ``last_forward`` without one.
        """
        import numpy as np

        counts = []
        for layer in _walk_layers(self.model):
            value = getattr(layer, "nfe", None)
            if value is None or callable(value):
                continue
            with contextlib.suppress(TypeError, ValueError):
                counts.append(int(np.asarray(value)))
        column = [row["nfe"] for row in self.history if row.get("nfe") is not None]
        if not counts and not column:
            return None
        last = sum(counts) if counts else int(round(column[-1]))
        mean = float(np.mean(column)) if column else float(last)
        return {"last_forward": last, "mean_forward": mean}

    def _finish(self) -> dict:
        x_test, y_test = self.data[2], self.data[3]
        began = time.perf_counter()
        try:
            scores = (
                self.model.evaluate(
                    x_test, y_test, batch_size=int(self.batch_size), verbose=0, return_dict=True
                )
                if len(x_test)
                else {}
            )
            extra = dict(self.evaluate_extra(self.model, x_test, y_test) or {}) if self.evaluate_extra else {}
        except Exception as exc:
            failure = self._failure_from_exception(exc, "evaluation")
            if failure is not None:
                raise failure from None
            raise
        accuracy_key = _accuracy_key(scores)
        self.results = {
            "test_loss": float(scores["loss"]) if "loss" in scores else None,
            "test_accuracy": float(scores[accuracy_key]) if accuracy_key else None,
            "nfe": self._nfe(),
        }
        self.results.update(extra)
        self.results["_evaluation_s"] = time.perf_counter() - began
        try:
            with atomic_path(self.run_dir / MODEL_FILE) as tmp:
                self.model.save(tmp)
            self.results["model_file"] = MODEL_FILE
        except Exception as exc:  # an unserialisable layer must not cost the results
            self.results["model_file"] = None
            self.log(f"warning: the trained model could not be saved as {MODEL_FILE}: {_first_line(str(exc))}")
        self._write_history()
        metrics = self._write_status(FINISHED)
        self._write_curves(FINISHED)
        shutil.rmtree(self.checkpoint_dir, ignore_errors=True)
        scores = [
            f"test {name} {metrics[key]:.4f}"
            for name, key in (("accuracy", "test_accuracy"), ("loss", "test_loss"))
            if metrics.get(key) is not None
        ]
        self.log(f"Finished {len(self.history)} epochs in {self.run_dir}: " + ", ".join(scores))
        return metrics

    def execute(self) -> dict:
        from reproduce._quiet import quiet_tensorflow

        quiet_tensorflow()
        import tensorflow as tf

        self._validate()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with _exclusive(self.run_dir):
            _remove_stale_temporaries(self.run_dir)
            _remove_stale_temporaries(self.checkpoint_dir)
            state = self._previous_state()
            if self.deterministic:
                tf.config.experimental.enable_op_determinism()
            self.model = self._build()
            self.config = self._config()
            # Looked up once per session (git and TensorFlow's device list are not free).
            self.provenance = {
                "versions": provenance.versions(),
                "git_commit": provenance.git_commit(),
                "hardware": provenance.hardware(),
            }
            if state is not None:
                self._restore(state)
                self.log(
                    f"Resuming {self.run_dir} after epoch {len(self.history)} of {self.epochs}."
                )
            else:
                self.log(f"Training into {self.run_dir}: {self.epochs} epochs. Command: {self.command}")
            self.sessions.append(
                {
                    "date": provenance.utc_now(),
                    "start_epoch": len(self.history),
                    "end_epoch": len(self.history),
                    "hardware": self.provenance["hardware"],
                    "git_commit": self.provenance["git_commit"],
                }
            )
            self._write_history()
            self._write_status(RUNNING)
            try:
                self._train_epochs(start=len(self.history))
                return self._finish()
            except (TrainingFailed, TrainingInterrupted):
                raise
            except KeyboardInterrupt:  # outside the guarded loop, e.g. during evaluation
                raise self._interrupted("Interrupted") from None
            except ReproduceError:
                raise
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):
                    raise
                raise ReproduceError(
                    f"cannot write the run folder {self.run_dir}: {exc.strerror} ({exc.filename}). "
                    "Free some space or choose another output folder, then rerun the same command "
                    "to resume from the last saved epoch."
                ) from None
            except Exception as exc:
                self.error, self.error_kind = f"{type(exc).__name__}: {_first_line(str(exc))}", "error"
                with contextlib.suppress(Exception):
                    self._write_status(FAILED)
                    self.log(f"FAILED: {self.error}", echo=False)
                raise


def run_training(
    *,
    run_dir: str | os.PathLike,
    build_model: Callable[[], Any],
    data: tuple[Any, Any, Any, Any],
    epochs: int,
    batch_size: int,
    seed: int,
    metadata: Mapping[str, Any] | None = None,
    evaluate_extra: Callable[[Any, Any, Any], Mapping[str, Any]] | None = None,
    resume: bool = True,
    force: bool = False,
    deterministic: bool = False,
    verbose: int = 1,
    shuffle: bool = True,
    callbacks: Sequence[Any] | None = None,
) -> dict:
    """Train a model into a run folder, resuming an unfinished run there; return its metrics.

    Typical use (one line per model in a command)::

        metrics = run_training(
            run_dir=out / "dense-r", build_model=lambda: build_dense(...),
            data=(x_train, y_train, x_test, y_test), epochs=150, batch_size=32, seed=1,
            metadata={"model": "dense", "preprocessing": "r", "quick": False,
                      "data": source.to_dict(), "argv": argv})

    What happens to an existing ``run_dir``:

    - no ``metrics.json``: a fresh run (files this module writes are replaced);
    - a finished run: :class:`ReproduceError` unless ``force``;
    - an unfinished run (status "running" or "interrupted", or "failed" for a
      reason other than a NaN loss or a solver failure) with a checkpoint:
      resumed from its last completed epoch when ``resume`` (the default),
      after checking that the configuration matches (model, preprocessing,
      quick, epochs planned, batch size, seed, shuffling, data sha256, the
      exact arrays, parameter count, optimizer class and learning rate, and
      ``metadata["config"]``); a mismatch raises :class:`ReproduceError` naming
      each difference;
    - anything else unfinished (no checkpoint yet, a NaN/solver failure, or
      ``resume=False``): started over;
    - ``force``: always started over.

    Args:
        run_dir: the run folder; created if missing. One process at a time.
        build_model: returns a *compiled* ``keras.Model``. Called once, after
            seeding, so its initial weights depend on ``seed`` only.
        data: ``(x_train, y_train, x_test, y_test)`` NumPy arrays (the split is
            the caller's).
        epochs: epochs to train in total (``epochs_planned``).
        batch_size: mini-batch size, also used for evaluation.
        seed: fixes Python, NumPy and TensorFlow randomness, the initial
            weights, the per-epoch sample order and dropout masks.
        metadata: stored in ``metrics.json``. Recognised keys: ``model``,
            ``preprocessing``, ``quick``, ``data`` (``DataSource.to_dict()``),
            ``argv`` (the arguments after ``python -m reproduce``), ``command``
            (default: rebuilt from ``argv`` or ``sys.argv``), ``config`` (a dict
            of further settings that must match to resume, e.g. solver and
            tolerances; stored in the checkpoint, not in metrics.json) and
            ``resume_command`` (default: ``command`` without ``--force`` and
            ``--no-resume``). Any other key is copied into ``metrics.json``.
        evaluate_extra: called as ``evaluate_extra(model, x_test, y_test)``
            after the test evaluation; the dict it returns is merged into the
            metrics (e.g. ``r_style_test_accuracy``, or ``nfe`` to override
            the default reading).
        resume: resume an unfinished run found in ``run_dir``.
        force: start over even if ``run_dir`` holds a finished run.
        deterministic: turn on TensorFlow's op determinism (for the rest of
            the process: TensorFlow cannot turn it off again reliably). Same
            seed + deterministic = same history to the last digit.
        verbose: Keras' progress display (0 silent, 1 bar, 2 one line per epoch).
        shuffle: visit the training samples in a new seeded order each epoch.
        callbacks: extra Keras callbacks, passed to every (one-epoch) ``fit``.

    Returns:
        The metrics written to ``metrics.json`` (status "finished"). Keys: see
        the run-folder contract; ``train_loss``/``train_accuracy`` are the last
        epoch's values as Keras logged them (running means over the epoch, in
        training mode, like R's ``plot(history)``); ``wall_time_s`` is the
        time spent training (all sessions) plus the final evaluation;
        ``seconds_per_epoch`` the mean training time of an epoch; ``date`` the
        start of the run; ``sessions`` one entry per start or resumption.

    Raises:
        TrainingInterrupted: SIGINT/SIGTERM (a ``KeyboardInterrupt``); the run
            folder is saved and resumable, the message says how.
        TrainingFailed: a NaN/infinite loss, an ODE solver failure or memory
            exhausted (a :class:`ReproduceError`); status "failed".
        ReproduceError: a finished run without ``force``, a configuration
            mismatch, a damaged checkpoint, another process on ``run_dir``.
    """
    run = _Run(
        run_dir=run_dir,
        build_model=build_model,
        data=data,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        metadata=metadata,
        evaluate_extra=evaluate_extra,
        resume=resume,
        force=force,
        deterministic=deterministic,
        verbose=verbose,
        shuffle=shuffle,
        callbacks=callbacks,
    )
    return run.execute()
