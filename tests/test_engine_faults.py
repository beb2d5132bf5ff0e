"""A run folder that cannot be written (a full disk): every write fails cleanly and resumably.

The disk "fills" at the first write of one file of the run folder, and stays
full: every later write fails too, as on a real full disk. Each write the
engine does is hit in turn (checkpoint weights and state, history, metrics,
curves, log, model), during the last epoch or while the run finishes. Each
time the run must stop with one line naming that file and the cause, not be
marked finished, keep its last checkpoint, and finish when the same run is
started again with space freed, training only what the checkpoint lacked.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from reproduce import atomic, engine
from reproduce.engine import checkpoint
from reproduce.engine import run as run_module
from reproduce.errors import ReproduceError

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
_spec = importlib.util.spec_from_file_location("_tiny_run", HERE / "_tiny_run.py")
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)

LAST = tiny.EPOCHS


class FullDisk:
    """Fails the first write of ``name`` once armed with ENOSPC, then every write.

    Writes go through :mod:`reproduce.atomic` (replaced files) and the
    run's log (appended); both are intercepted. The error names the temporary
    file, as a real failed write would: the engine must name the target.
    """

    def __init__(self, monkeypatch, name: str):
        self.name = name
        self.armed = False
        self.full = False
        commit, real_open = atomic._commit, open

        def failing_commit(tmp, target):
            self.check(Path(target), tmp)
            commit(tmp, target)

        def failing_open(path, *args, **kwargs):
            self.check(Path(path), path)
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(atomic, "_commit", failing_commit)
        monkeypatch.setattr(run_module, "open", failing_open, raising=False)

    def check(self, target: Path, written) -> None:
        if self.armed and (self.full or target.name == self.name):
            self.full = True
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(written))

    def free(self) -> None:
        self.armed = self.full = False


def _arm_at_last_epoch(disk: FullDisk):
    import keras

    class Arm(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == LAST - 1:
                disk.armed = True

    return Arm()


def _train(run_dir, *, disk: FullDisk | None = None, when: str | None = None, models=None):
    """One session through the Run API; returns (run, model). ``models`` gets the model first."""
    x_train, y_train, x_test, y_test = tiny.tiny_data()
    callbacks = [_arm_at_last_epoch(disk)] if when == "last epoch" else []
    engine.seed_everything(tiny.SEED)
    model = tiny.build_tiny()
    if models is not None:
        models.append(model)
    with tiny.open_run(run_dir, callbacks=callbacks) as run:
        run.fit(model, x_train, y_train)
        run.evaluate(model, x_test, y_test)
        if when == "finishing":
            disk.armed = True
    return run, model


def _predictions(model):
    return np.asarray(model.predict(tiny.tiny_data()[2], verbose=0))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run: its folder and its model's test predictions."""
    run_dir = tmp_path_factory.mktemp("faults") / "reference"
    run, model = _train(run_dir)
    return run_dir, run.metrics, _predictions(model)


# (file that fails, where it lives, when the disk fills, checkpoint epoch left behind)
CASES = [
    ("epoch-0006.weights.h5", "checkpoint", "last epoch", LAST - 1),
    ("state.json", "checkpoint", "last epoch", LAST - 1),
    ("history.csv", "", "last epoch", LAST),
    ("metrics.json", "", "last epoch", LAST),
    ("log.txt", "", "last epoch", LAST),
    ("model.keras", "", "finishing", LAST),
    ("history.csv", "", "finishing", LAST),
    ("curves.png", "", "finishing", LAST),
    ("log.txt", "", "finishing", LAST),
    ("metrics.json", "", "finishing", LAST),
]


@pytest.mark.parametrize(
    ("name", "folder", "when", "saved"), CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES]
)
def test_full_disk_stops_cleanly_and_the_rerun_finishes(
    name, folder, when, saved, reference, tmp_path, monkeypatch
):
    run_dir = tmp_path / "run"
    disk = FullDisk(monkeypatch, name)
    models = []
    with pytest.raises(ReproduceError) as caught:
        _train(run_dir, disk=disk, when=when, models=models)
    trained_first = _predictions(models[0])

    message = str(caught.value)
    assert "\n" not in message
    assert f"cannot write {run_dir / folder / name}: No space left on device" in message
    assert "disk is full" in message and "run the same command again" in message
    assert not isinstance(caught.value, engine.TrainingFailed)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] != "finished"
    state = json.loads((run_dir / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == saved
    assert (run_dir / "checkpoint" / state["weights"]).is_file()
    assert not list(run_dir.glob(".*.tmp-*")) and not list(run_dir.glob("checkpoint/.*.tmp-*"))

    disk.free()
    run, _ = _train(run_dir)
    metrics = run.metrics
    assert metrics["status"] == "finished" and metrics["model_file"] == "model.keras"
    assert metrics == json.loads((run_dir / "metrics.json").read_text())
    last = metrics["sessions"][-1]
    assert (last["start_epoch"], last["end_epoch"]) == (saved, LAST)  # only what was not saved
    assert not (run_dir / "checkpoint").exists()
    reference_dir, reference_metrics, reference_predictions = reference
    assert (run_dir / "history.csv").read_text() == (reference_dir / "history.csv").read_text()
    assert metrics["test_loss"] == reference_metrics["test_loss"]
    import keras

    saved_model = keras.saving.load_model(run_dir / "model.keras")
    np.testing.assert_array_equal(_predictions(saved_model), reference_predictions)
    if saved == LAST:  # nothing trained again: the model is the first session's
        np.testing.assert_array_equal(_predictions(saved_model), trained_first)


def test_a_full_disk_while_entering_the_run_is_one_line_too(tmp_path, monkeypatch):
    (tmp_path / "metrics.json").write_text(json.dumps({"status": "running"}))  # no checkpoint
    disk = FullDisk(monkeypatch, "log.txt")  # the start over is logged
    disk.armed = True
    with pytest.raises(ReproduceError) as caught, tiny.open_run(tmp_path):
        pass
    assert str(caught.value) == (
        f"cannot write {tmp_path / 'log.txt'}: No space left on device (the disk is full). "
        "The run did not start: free some space and run the same command again."
    )


def test_a_model_keras_cannot_serialise_is_a_warning_only(tmp_path, monkeypatch):
    def refuses(model):
        raise NotImplementedError("Layer Odd has no get_config")

    monkeypatch.setattr(checkpoint, "model_bytes", refuses)
    run, _ = _train(tmp_path)
    assert run.metrics["status"] == "finished" and run.metrics["model_file"] is None
    assert not (tmp_path / "model.keras").exists() and not (tmp_path / "checkpoint").exists()
    assert "could not be saved as model.keras: Layer Odd" in (tmp_path / "log.txt").read_text()


def test_the_bytes_serialised_in_memory_load_back_as_the_same_model(tmp_path):
    import keras

    engine.seed_everything(1)
    model = tiny.build_tiny()
    x_train, y_train, x_test, _ = tiny.tiny_data()
    model.fit(x_train, y_train, epochs=1, verbose=0)
    (tmp_path / "m.keras").write_bytes(checkpoint.model_bytes(model))
    (tmp_path / "m.weights.h5").write_bytes(checkpoint.weights_bytes(model))
    loaded_weights = tiny.build_tiny()
    loaded_weights.optimizer.build(loaded_weights.trainable_variables)
    loaded_weights.load_weights(tmp_path / "m.weights.h5")
    for mine, theirs in zip(model.optimizer.variables, loaded_weights.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))
    for loaded in (keras.saving.load_model(tmp_path / "m.keras"), loaded_weights):
        np.testing.assert_array_equal(
            loaded.predict(x_test, verbose=0), model.predict(x_test, verbose=0)
        )


def _other_data(sha256: str) -> dict:
    return {**tiny.DATA, "sha256": sha256}


def test_a_finished_run_on_other_data_says_so(reference):
    run_dir = reference[0]
    with (
        pytest.raises(ReproduceError) as caught,
        tiny.open_run(run_dir, data=_other_data("1" * 64)),
    ):
        pass
    message = str(caught.value)
    assert "already holds a finished run" in message and "\n" not in message
    assert f"trained on other data (data sha256 {'0' * 64} there, {'1' * 64} here)" in message


def test_an_unfinished_run_on_other_data_says_so(tmp_path, monkeypatch):
    disk = FullDisk(monkeypatch, "model.keras")
    with pytest.raises(ReproduceError):
        _train(tmp_path, disk=disk, when="finishing")
    disk.free()
    x_train, y_train, _, _ = tiny.tiny_data()
    engine.seed_everything(tiny.SEED)
    model = tiny.build_tiny()
    with (
        pytest.raises(ReproduceError) as caught,
        tiny.open_run(tmp_path, data=_other_data("2" * 64)) as run,
    ):
        run.fit(model, x_train, y_train)
    message = str(caught.value)
    assert "holds an unfinished run" in message
    assert f"trained on other data (data sha256 {'0' * 64} there, {'2' * 64} here)" in message


def test_a_solver_failure_in_training_names_the_epoch_and_the_batch(tmp_path):
    import keras
    import tensorflow as tf

    class GivesUpAtStep7(keras.layers.Layer):
        """Fails in the 7th training step: epoch 2, batch 3 of 4 (64 samples, batches of 16)."""

        def __init__(self):
            super().__init__()
            self.steps = tf.Variable(0, trainable=False)

        def call(self, x, training=False):
            if not training:
                return x
            count = self.steps.assign_add(1)
            with tf.control_dependencies(
                [tf.debugging.assert_less(count, 7, message="odelayers: dopri5 gave up")]
            ):
                return tf.identity(x)

    def build():
        model = keras.Sequential(
            [keras.Input((8,)), GivesUpAtStep7(), keras.layers.Dense(1, activation="sigmoid")]
        )
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        return model

    with pytest.raises(engine.TrainingFailed) as caught:
        tiny.run(tmp_path, build_model=build, epochs=3)
    assert "during training (epoch 2, batch 3 of 4): odelayers: dopri5 gave up" in str(caught.value)


# ------------------------------------------------------------ real processes


def _command(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs: room for one checkpoint of the dense network (3.1 MB), not two."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if not sys.platform.startswith("linux") or shutil.which("mount") is None:
        pytest.skip("tmpfs mounts need Linux")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("mounting a tmpfs is not permitted here")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


@pytest.mark.slow  # two processes on a real small file system, about 20 s
def test_a_real_full_disk_exits_with_status_2_and_the_rerun_resumes(small_disk, tmp_path):
    from reproduce.data import synthetic

    data = tmp_path / "train.json"
    data.write_text(json.dumps(synthetic.synthetic_train(n=40, seed=7)))
    argv = ("-m", "reproduce", "dense", "--data", str(data), "--epochs", "3")
    argv += ("--verbose", "0", "--out", str(small_disk))

    first = _command(*argv)
    assert first.returncode == 2, (first.returncode, first.stderr[-2000:])  # not -11 (SIGSEGV)
    errors = [line for line in first.stderr.splitlines() if line.startswith("error:")]
    run_dir = small_disk / "dense-r-real-e3"
    assert errors == [
        f"error: cannot write {run_dir / 'checkpoint' / 'epoch-0002.weights.h5'}: No space "
        "left on device (the disk is full). The run is not finished and its checkpoint after "
        "epoch 1 of 3 is kept: free some space and run the same command again, which resumes "
        "from there."
    ]
    assert "HDF5" not in first.stderr and "Exception ignored" not in first.stderr
    assert engine.read_metrics(run_dir)["status"] != "finished"

    subprocess.run(["mount", "-o", "remount,size=32m", str(small_disk)], check=True)
    second = _command(*argv)
    assert second.returncode == 0, second.stderr[-2000:]
    metrics = engine.read_metrics(run_dir)
    assert metrics["status"] == "finished" and metrics["model_file"] == "model.keras"
    assert metrics["sessions"][-1]["start_epoch"] == 1


def _wait_for_training(process: subprocess.Popen) -> None:
    """Read the run's output until it says that it trains (or resumes), or it ended."""
    for line in process.stdout:
        if "Training into" in line or "Resuming" in line:
            return


@pytest.mark.slow
def test_killed_at_random_moments_the_run_still_ends_like_an_uninterrupted_one(tmp_path):
    """SIGKILL (no chance to save) 15 times, resume each time: the same history in the end.

    Most kills land while training (a random moment in the first 1.5 s after
    the session began: compiling, training, saving), some while starting up.
    """
    epochs, kills = 1500, 15
    script = str(HERE / "_tiny_run.py")
    reference = tmp_path / "reference"
    done = _command(script, str(reference), "--epochs", str(epochs))
    assert done.returncode == 0, done.stderr[-2000:]

    run_dir, rng, killed = tmp_path / "killed", random.Random(0), 0
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    while killed < kills:
        process = subprocess.Popen(
            [sys.executable, script, str(run_dir), "--epochs", str(epochs)],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        if rng.random() < 0.2:
            time.sleep(rng.uniform(0.0, 3.0))  # while importing or entering the run
        else:
            _wait_for_training(process)
            time.sleep(rng.uniform(0.0, 1.5))
        if process.poll() is not None:
            break  # finished before the kill: the soak was too short
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stdout.close()
        killed += 1
    assert killed == kills
    final = _command(script, str(run_dir), "--epochs", str(epochs))
    assert final.returncode == 0, final.stderr[-2000:]
    metrics = engine.read_metrics(run_dir)
    assert metrics["status"] == "finished" and len(metrics["sessions"]) > 1
    history = (run_dir / "history.csv").read_text()
    assert history == (reference / "history.csv").read_text()
