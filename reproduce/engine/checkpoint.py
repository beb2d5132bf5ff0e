"""Resume as Keras' ``BackupAndRestore`` does (restore in ``on_train_begin``, save in
``on_epoch_end``), and more: each epoch's randomness drawn from (training seed, epoch), so a resumed
run replays the missing epochs to the last digit; an epoch cut short is never saved; weights
serialised in memory and written atomically (HDF5 handles a failed write badly); a checkpoint names
its configuration, data and weights digest, and resuming refuses any mismatch."""

import contextlib
import hashlib
import io
import json
import math
import random
import time
import warnings

import keras
import numpy as np
from keras.src.saving import saving_lib

from reproduce import run_folder as rf
from reproduce.atomic import atomic_write_bytes, atomic_write_json
from reproduce.engine.config import RESUME_KEYS
from reproduce.errors import ReproduceError

STATE_FILE = "state.json"
#: Facts of the data and the model that must match too.
FACT_KEYS = "data_sha256 arrays_sha256 n_train n_test params optimizer".split()
_FORCE = "add --force to start the run over."


def previous_state(run) -> dict | None:
    """The checkpoint state to resume ``run`` from, or ``None`` to start over (folder cleared);
    refuses a finished run without ``force`` and a damaged checkpoint. A lost or damaged
    ``metrics.json`` does not lose the epochs an intact checkpoint holds."""
    run_dir, config = run.run_dir, run.config
    try:
        previous, lost = rf.read_metrics(run_dir), None
    except ReproduceError as err:  # refused below unless an intact checkpoint holds the run
        previous, lost = None, err
    status = (previous or {}).get("status")
    if status == rf.FINISHED and not config.force:
        rf.drop_checkpoint(run_dir)  # a kill after the commit left it
        accuracy = previous.get("test_accuracy")
        score = f", test accuracy {accuracy:.4f}" if isinstance(accuracy, (int, float)) else ""
        raise ReproduceError(f"{run_dir} already holds a finished run ({previous.get('epochs')} "
                             f"epochs{score}){other_data(previous.get('data'), run.data)}. Add "
                             "--force to overwrite it, or choose another output folder.")  # fmt: skip
    state = _read_state(run_dir / rf.CHECKPOINT_DIR, config.force)
    if lost and state is None and not config.force:
        raise lost
    reason = None
    if config.force:
        reason = "--force was given"
    elif status not in (None, rf.RUNNING, rf.INTERRUPTED, rf.FAILED):
        reason = f"its status {status!r} is unknown"
    elif status == rf.FAILED and previous.get("error_kind") in ("nan", "solver"):
        reason = "it failed in a way resuming would repeat"
    elif not config.resume:
        reason = "resuming is off"
    elif state is not None:
        if previous is None:
            missing = str(lost).split(";")[0] if lost else f"{rf.METRICS_FILE} is missing"
            run.log(f"{missing}: resuming from the checkpoint, which is intact.")
        return state
    elif previous is not None:
        reason = "it had not completed an epoch"
    rf.clear(run_dir)
    if reason and (previous is not None or state is not None):
        discarded = f", discarding its {state['epoch']} saved epochs" if state else ""
        why = f"the run there was not finished and {reason}"
        run.log(f"Starting over in {run_dir}{discarded}: {why}.")
    return None


def _read_state(folder, force: bool) -> dict | None:
    """``state.json`` checked whole (types, epoch, history, weights file), ``None`` without one."""
    if not (folder / STATE_FILE).exists():
        return None
    try:
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
        epoch, history, kinds = state["epoch"], state["history"], (dict, dict, list)
        epochs = [row.get("epoch") if isinstance(row, dict) else None for row in history]
        if not (
            epochs == list(range(1, epoch + 1)) == list(range(1, len(state["epoch_seconds"]) + 1))
            and epoch >= 1
            and all(map(isinstance, (state[k] for k in ("config", "facts", "sessions")), kinds))
            and state["weights"] == f"epoch-{epoch:04d}.weights.h5"
        ):
            raise ValueError("its epoch, history and weights file disagree")
        digest = hashlib.sha256((folder / state["weights"]).read_bytes()).hexdigest()
        if force or digest == state.get("weights_sha256"):
            return state
        problem = f"{folder / state['weights']} is not the file its checkpoint saved (sha256 "
        problem += f"{digest}, saved {state.get('weights_sha256')})"
    except (OSError, ValueError, KeyError, TypeError) as err:
        if force:
            return None
        problem = f"the checkpoint in {folder} is unreadable ({err})"
    raise ReproduceError(f"{problem}; {_FORCE}")


def other_data(there, here) -> str:
    """Says so when both data hashes are known and differ (the folder name cannot tell)."""
    stored, wanted = ((d or {}).get("sha256") for d in (there, here))
    if stored is None or wanted is None or stored == wanted:
        return ""
    return f" trained on other data (data sha256 {stored} there, {wanted} here)"


def facts(model, arrays, data) -> dict:
    """The data and model facts a resumed run must match (:data:`FACT_KEYS`)."""
    digest = hashlib.sha256()
    for array in map(np.ascontiguousarray, arrays):
        digest.update(f"{array.dtype.str}{array.shape};".encode() + array.tobytes())
    rate = model.optimizer.get_config().get("learning_rate")
    rate = rate if isinstance(rate, (int, float)) else repr(rate)
    n_test = len(arrays[2]) if len(arrays) > 2 else None
    optimizer = {"class": type(model.optimizer).__name__, "learning_rate": rate}
    found = {"data_sha256": (data or {}).get("sha256"), "arrays_sha256": digest.hexdigest()}
    found.update(n_train=len(arrays[0]), n_test=n_test, params=int(model.count_params()))
    return found | {"optimizer": optimizer}


def resume(run) -> None:
    """Take over the saved epochs of ``run.state``, refusing other settings and naming each one."""
    state, now = run.state, {**run.config.recorded(), **run.facts}
    saved = {**state["config"], **state["facts"]}
    keys = [key for key in (*RESUME_KEYS, *FACT_KEYS) if saved.get(key) != now.get(key)]
    found = [f"{key}: {saved.get(key)!r} there, {now.get(key)!r} here" for key in keys]
    if found:
        other = other_data({"sha256": state["facts"].get("data_sha256")}, run.data)
        other += f" with other settings ({'; '.join(found)})"
        raise ReproduceError(f"{run.run_dir} holds an unfinished run ({state['epoch']} of "
                             f"{state['config'].get('epochs')} epochs){other}. Rerun with that "
                             "run's settings to resume it, add --force to start over, or choose "
                             "another output folder.")  # fmt: skip
    run.history, run.epoch_seconds = state["history"], state["epoch_seconds"]
    run.sessions, run.started = state["sessions"], state["date"]
    run.log(f"Resuming {run.run_dir} after epoch {len(run.history)} of {run.config.epochs}.")


def _derived(seed: int, epoch: int, stream: int) -> int:
    value = np.random.SeedSequence([int(seed), int(epoch), int(stream)]).generate_state(1)[0]
    return int(value) % (2**31 - 2) + 1


def seed_epoch(model, seed: int, epoch: int) -> None:
    """Reseed Python, NumPy, the model's seed generators (dropout) and Keras' global one; not
    TensorFlow's (that retraces the step), so custom stateful ``tf.random`` ops are not replayed."""
    random.seed(_derived(seed, epoch, 0))
    np.random.seed(_derived(seed, epoch, 0))
    states = [v for v in model.variables if v.path.endswith("seed_generator_state")]
    with contextlib.suppress(ImportError, AttributeError):  # private API: best effort
        from keras.src.backend.common import global_state

        generator = global_state.get_global_attribute("global_seed_generator")
        states += [generator.state] if generator is not None else []
    for index, variable in enumerate(states):
        variable.assign(np.array([_derived(seed, epoch, 1000 + index), 0], dtype=variable.dtype))


def epochs_dataset(x, y, config, start: int):
    """Epochs ``start``.. as one ``tf.data`` pipeline (one ``fit``), each batched in its seeded order."""
    import tensorflow as tf

    rng, epochs = np.random.default_rng, range(start, config.epochs)
    orders = [rng(_derived(config.train_seed, e, 1)).permutation(len(x)) for e in epochs]
    orders = orders if config.shuffle else [np.arange(len(x))] * len(orders)
    with tf.device("/CPU:0"):  # tf.data runs on the CPU: keep the arrays there
        x_all, y_all = tf.convert_to_tensor(x), tf.convert_to_tensor(y)
    batches = tf.data.Dataset.from_tensor_slices(np.stack(orders).astype(np.int32)).flat_map(
        lambda order: tf.data.Dataset.from_tensor_slices(order).batch(config.batch_size)
    )
    return batches.map(lambda i: (tf.gather(x_all, i), tf.gather(y_all, i))).prefetch(2)


def weights_bytes(model) -> bytes:
    """The ``.weights.h5`` file of ``model`` (weights and optimizer), in memory."""
    buffer = io.BytesIO()
    store = saving_lib.H5IOStore(buffer, mode="w")  # what saving_lib.save_weights_only does
    saving_lib._save_state(
        model, weights_store=store, assets_store=None, inner_path="", visited_saveables=set()
    )
    store.close()
    return buffer.getvalue()


def model_bytes(model) -> bytes:
    """The ``.keras`` file of ``model``, in memory; raises what Keras raises for an unsavable one."""
    buffer = io.BytesIO()
    saving_lib.save_model(model, buffer)
    return buffer.getvalue()


class Checkpoint(keras.callbacks.Callback):
    """Drives the run's one ``fit``: restores, reseeds, stops, saves. ``bad``: ``[epoch, batch,
    loss]`` (1-based) of a non-finite loss, which stops ``fit``."""

    def __init__(self, run, steps: int, diagnose=None):
        super().__init__()
        self.run, self.steps, self.diagnose = run, steps, diagnose
        self.batches_done, self.began, self.bad = 0, 0.0, None

    def on_train_begin(self, logs=None):
        if self.run.state is None:
            return
        path = self.run.run_dir / rf.CHECKPOINT_DIR / self.run.state["weights"]
        if not self.model.optimizer.built:  # its variables must exist to be filled
            self.model.optimizer.build(self.model.trainable_variables)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.model.load_weights(path)
        except Exception as err:  # h5py and Keras raise many types for a damaged file
            raise ReproduceError(f"cannot load the checkpoint {path} ({err}); {_FORCE}") from None

    def on_epoch_begin(self, epoch, logs=None):
        seed_epoch(self.model, self.run.config.train_seed, epoch)
        self.batches_done, self.began = 0, time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.batches_done = batch + 1
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.bad = [None, batch + 1, float(loss)]
        self.model.stop_training |= self.bad is not None or bool(self.run.stop)

    def on_epoch_end(self, epoch, logs=None):
        if self.bad is not None:
            self.bad[0] = epoch + 1
        if self.bad is not None or self.batches_done != self.steps:
            return
        seconds, row = time.perf_counter() - self.began, {"epoch": epoch + 1}
        for key, value in {**(logs or {}), **(self.diagnose() if self.diagnose else {})}.items():
            with contextlib.suppress(TypeError, ValueError):
                row[key] = float(value)
        self.save(row, seconds)
        self.model.stop_training |= bool(self.run.stop)  # a signal in the last batch or the save

    def save(self, row: dict, seconds: float) -> None:
        """Weights first, then the state naming them: a kill in between keeps the previous pair."""
        run, folder = self.run, self.run.run_dir / rf.CHECKPOINT_DIR
        folder.mkdir(exist_ok=True)
        name, weights = f"epoch-{row['epoch']:04d}.weights.h5", weights_bytes(self.model)
        atomic_write_bytes(folder / name, weights)
        sessions = [*run.sessions[:-1], {**run.sessions[-1], "end_epoch": row["epoch"]}]
        state = {"epoch": row["epoch"], "weights": name, "date": run.started}
        state.update(weights_sha256=hashlib.sha256(weights).hexdigest(), sessions=sessions)
        state.update(config=run.config.recorded(), facts=run.facts, history=[*run.history, row])
        state.update(epoch_seconds=[*run.epoch_seconds, seconds])
        atomic_write_json(folder / STATE_FILE, rf.json_safe(state))
        for old in (old for old in folder.glob("epoch-*.weights.h5") if old.name != name):
            with contextlib.suppress(OSError):
                old.unlink()
        run.epoch_completed(row, seconds)


class CompletedEpochsTensorBoard(keras.callbacks.TensorBoard):
    """Keras' TensorBoard, logging an epoch once it completed (a cut-short one is trained again)."""

    def on_train_batch_end(self, batch, logs=None):
        self._batches_done = int(batch) + 1
        super().on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        done, self._batches_done = getattr(self, "_batches_done", 0), 0
        if done == self.params.get("steps") and (loss is None or math.isfinite(float(loss))):
            super().on_epoch_end(epoch, logs)
