"""The training engine's run folder, refusals and failure reports; provenance; plots."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reproduce import provenance
from reproduce.curves import plot_history
from reproduce.engine import (
    TrainingFailed,
    TrainingInterrupted,
    read_metrics,
)
from reproduce.errors import ReproduceError

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("_tiny_run", HERE / "_tiny_run.py")
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)

PNG = b"\x89PNG\r\n\x1a\n"

# The run-folder contract's metrics.json keys.
CONTRACT_KEYS = {
    "model", "preprocessing", "status", "epochs", "epochs_planned", "batch_size", "seed", "quick",
    "test_loss", "test_accuracy", "train_loss", "train_accuracy", "r_style_test_accuracy", "params",
    "trainable_params", "wall_time_s", "seconds_per_epoch", "nfe", "command", "argv", "data",
    "versions", "git_commit", "date", "hardware",
}  # fmt: skip


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runner") / "dense-run"
    handlers = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    metrics = tiny.run(run_dir, epochs=3)
    after = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    return run_dir, metrics, handlers, after


def _keras():
    import keras

    return keras


# --------------------------------------------------------------------------- run folder


def test_run_folder_holds_the_contract_files(finished):
    run_dir, metrics, _, _ = finished
    assert metrics == json.loads((run_dir / "metrics.json").read_text())
    assert CONTRACT_KEYS <= set(metrics)
    assert metrics["status"] == "finished" and metrics["epochs"] == metrics["epochs_planned"] == 3
    assert (metrics["model"], metrics["preprocessing"], metrics["quick"]) == (
        "dense",
        "corrected",
        True,
    )
    assert metrics["data"] == tiny.DATA
    assert metrics["params"] == metrics["trainable_params"] == 8 * 16 + 16 + 16 + 1
    assert set(metrics["versions"]) == {
        "python", "tensorflow", "keras", "tensorflow_probability", "numpy", "pandas", "reproduce",
        "odelayers"
    }  # fmt: skip
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", metrics["date"])
    assert "cores" in metrics["hardware"]
    assert metrics["command"].startswith("python ") and metrics["nfe"] is None
    assert metrics["wall_time_s"] > 0 and metrics["seconds_per_epoch"] > 0

    lines = (run_dir / "history.csv").read_text().splitlines()
    assert lines[0].split(",") == ["epoch", "loss", "accuracy", "test_loss", "test_accuracy"]
    assert [int(line.split(",")[0]) for line in lines[1:]] == [1, 2, 3]
    last = lines[-1].split(",")
    assert float(last[1]) == metrics["train_loss"] and float(last[2]) == metrics["train_accuracy"]
    # the last epoch's test diagnostic scored the final weights: the final test scores
    assert float(last[3]) == pytest.approx(metrics["test_loss"], rel=1e-6)
    assert float(last[4]) == pytest.approx(metrics["test_accuracy"], rel=1e-6)

    assert (run_dir / "curves.png").read_bytes()[:8] == PNG
    log = (run_dir / "log.txt").read_text()
    assert "epoch 1/3" in log and "epoch 3/3" in log and "Finished 3 epochs" in log
    assert not (run_dir / "checkpoint").exists()  # a finished run needs no checkpoint
    assert not [p for p in run_dir.iterdir() if ".tmp-" in p.name]


def test_saved_model_reproduces_the_reported_test_scores(finished):
    run_dir, metrics, _, _ = finished
    model = _keras().models.load_model(run_dir / "model.keras")
    _, _, x_test, y_test = tiny.tiny_data()
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=tiny.BATCH_SIZE, verbose=0)
    assert loss == pytest.approx(metrics["test_loss"], rel=1e-6)
    assert accuracy == pytest.approx(metrics["test_accuracy"])


def test_signal_handlers_are_restored_after_training(finished):
    _, _, before, after = finished
    assert before == after


def test_finished_run_is_not_overwritten_without_force(finished, tmp_path):
    run_dir = tmp_path / "copy"
    shutil.copytree(finished[0], run_dir)
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    with pytest.raises(ReproduceError, match="--force"):
        tiny.run(run_dir, epochs=3)
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == before
    # --force starts over: a new run, with nothing left of the old one.
    metrics = tiny.run(run_dir, epochs=1, force=True)
    assert metrics["status"] == "finished" and metrics["epochs"] == 1
    assert len(metrics["sessions"]) == 1 and "note" not in metrics
    assert len((run_dir / "history.csv").read_text().splitlines()) == 2
    assert "epoch 3/3" not in (run_dir / "log.txt").read_text()


class _InterruptAt:
    """Builds a callback raising KeyboardInterrupt at (epoch, batch), 0-based."""

    def __new__(cls, epoch, batch):
        keras = _keras()

        class Interrupt(keras.callbacks.Callback):
            def on_epoch_begin(self, current, logs=None):
                self.current = current

            def on_train_batch_end(self, current, logs=None):
                if (self.current, current) == (epoch, batch):
                    raise KeyboardInterrupt

        return Interrupt()


def test_unfinished_run_with_other_settings_is_refused(tmp_path):
    with pytest.raises(TrainingInterrupted) as caught:
        tiny.run(tmp_path, callbacks=[_InterruptAt(1, 2)])
    assert caught.value.metrics["status"] == "interrupted" and caught.value.metrics["epochs"] == 1
    assert "Resume it with:" in str(caught.value)

    x_train, y_train, x_test, y_test = tiny.tiny_data()
    changed_data = (x_train * 2, y_train, x_test, y_test)
    other_source = {**tiny.DATA, "sha256": "1" * 64}
    for overrides, named in [
        ({"batch_size": 8}, "batch_size"),
        ({"seed": 99}, "seed"),
        ({"epochs": 9}, "epochs"),
        ({"preprocessing": "r"}, "preprocessing"),
        ({"data": other_source}, "data_sha256"),
        ({"arrays": changed_data}, "arrays_sha256"),
        ({"build_model": lambda: tiny.build_tiny(learning_rate=0.5)}, "learning_rate"),
    ]:
        with pytest.raises(ReproduceError, match=named) as refused:
            tiny.run(tmp_path, **overrides)
        assert "--force" in str(refused.value)
        assert read_metrics(tmp_path)["status"] == "interrupted"  # the refusal changed nothing

    # Resuming is the default; resume=False (--no-resume) starts over with any settings.
    metrics = tiny.run(tmp_path, epochs=2, resume=False)
    assert metrics["status"] == "finished" and metrics["epochs"] == 2
    assert [s["start_epoch"] for s in metrics["sessions"]] == [0]


def test_second_process_on_the_same_folder_is_refused(tmp_path):
    import fcntl

    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running training holds it
        with pytest.raises(ReproduceError, match="another process"):
            tiny.run(tmp_path, epochs=1)
    finally:
        os.close(fd)
    assert not (tmp_path / "metrics.json").exists()


def test_unreadable_metrics_is_refused(tmp_path):
    (tmp_path / "metrics.json").write_text("{not json")
    with pytest.raises(ReproduceError, match="--force"):
        tiny.run(tmp_path, epochs=1)
    assert (tmp_path / "metrics.json").read_text() == "{not json"


# --------------------------------------------------------------------------- failures


def test_nan_loss_is_reported_with_epoch_and_batch(tmp_path):
    keras = _keras()

    def build():  # log(x + 10) is NaN for the one sample whose feature is below -10
        model = keras.Sequential(
            [
                keras.Input((8,)),
                keras.layers.Lambda(lambda x: keras.ops.log(x + 10.0)),
                keras.layers.Dense(1, activation="sigmoid"),
            ]
        )
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        return model

    x_train, y_train, x_test, y_test = tiny.tiny_data()
    x_train = x_train.copy()
    x_train[40, 3] = -20.0  # sample 40 is in batch 3 (1-based) of 16-sample batches
    with pytest.raises(TrainingFailed) as caught:
        tiny.run(
            tmp_path, build_model=build, arrays=(x_train, y_train, x_test, y_test), shuffle=False
        )
    message = str(caught.value)
    assert "loss became nan at epoch 1, batch 3 of 4" in message
    assert "learning rate" in message and "rtol" in message
    metrics = read_metrics(tmp_path)
    assert metrics["status"] == "failed" and metrics["error"] == message
    assert metrics["epochs"] == 0


def test_non_finite_data_is_refused_before_training(tmp_path):
    x_train, y_train, x_test, y_test = tiny.tiny_data()
    y_train = y_train.copy()
    y_train[[5, 9]] = np.nan
    with pytest.raises(
        ReproduceError, match="training labels hold NaN or infinite values in 2 samples"
    ):
        tiny.run(tmp_path, arrays=(x_train, y_train, x_test, y_test))
    assert not (tmp_path / "metrics.json").exists()


def test_diverging_training_stops_at_the_first_nan(tmp_path):
    keras = _keras()

    def build():
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e3), loss="mse")
        return model

    with pytest.raises(
        TrainingFailed, match=r"loss became (nan|inf) at epoch \d+, batch \d+ of 4"
    ) as caught:
        tiny.run(tmp_path, build_model=build, epochs=50)
    epoch = int(re.search(r"at epoch (\d+)", str(caught.value)).group(1))
    metrics = read_metrics(tmp_path)
    assert metrics["status"] == "failed" and metrics["epochs"] == epoch - 1
    history = (tmp_path / "history.csv").read_text().splitlines()[1:]
    assert len(history) == epoch - 1  # only complete, finite epochs are kept
    assert all(np.isfinite(float(line.split(",")[1])) for line in history)
    # Resuming would diverge again: the next run in this folder starts over.
    metrics = tiny.run(tmp_path, epochs=1)
    assert metrics["status"] == "finished" and metrics["sessions"][0]["start_epoch"] == 0
    assert "error" not in metrics


def _solver_model(layer):
    keras = _keras()
    model = keras.Sequential(
        [keras.Input((8,)), layer, keras.layers.Dense(1, activation="sigmoid")]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def test_solver_failure_inside_the_compiled_step_is_reported(tmp_path):
    keras = _keras()
    import tensorflow as tf

    class GivesUp(keras.layers.Layer):
        def call(self, x):
            tf.debugging.assert_less(
                tf.reduce_max(x),
                -1e9,
                message="odelayers: dopri5 step size underflowed at t=0.4200; try method='bdf'",
            )
            return x

    with pytest.raises(TrainingFailed) as caught:
        tiny.run(tmp_path, build_model=lambda: _solver_model(GivesUp()), epochs=2)
    message = str(caught.value)
    assert "step size underflowed at t=0.4200" in message
    assert "Graph execution error" not in message and "Traceback" not in message
    assert "max_num_steps" in message and "bdf" in message
    metrics = read_metrics(tmp_path)
    assert metrics["status"] == "failed" and metrics["error_kind"] == "solver"


def test_solver_exceptions_are_recognised():
    from odelayers.errors import ODESolverError
    from reproduce.engine.failures import solver_failure

    text = "odelayers: dopri5 took more than max_num_steps=1000 steps at t=0.7"
    assert solver_failure(ODESolverError(text)) == text  # raised eagerly
    assert solver_failure(ValueError("odelayers: bad argument")) is None  # not a solver failure
    assert solver_failure(RuntimeError("disk full")) is None


def test_recorded_results_and_nfe_are_kept(tmp_path):
    keras = _keras()

    class CountsEvaluations(keras.layers.Layer):
        """Stands for an ODE block: exposes the NFE of its last solve as `nfe`."""

        nfe = 26

        def call(self, x):
            return x

    def extra(model, x_test, y_test):
        predictions = model.predict(x_test, verbose=0)[:, 0]
        return {"r_style_test_accuracy": float(np.mean((predictions > 0.5) == y_test))}

    from reproduce import engine

    x_train, y_train, x_test, y_test = tiny.tiny_data()
    with tiny.open_run(tmp_path, epochs=1) as run:
        engine.seed_everything(tiny.SEED)
        model = _solver_model(CountsEvaluations())
        run.fit(model, x_train, y_train)
        run.evaluate(model, x_test, y_test)
        run.record(**extra(model, x_test, y_test))
    metrics = run.metrics
    assert metrics["nfe"] == {"last_forward": 26, "mean_forward": 26.0}
    assert metrics["r_style_test_accuracy"] == pytest.approx(metrics["test_accuracy"])


# --------------------------------------------------------------------------- provenance


def test_command_line_is_rebuilt_and_quoted(monkeypatch):
    assert provenance.command_line(["dense", "--out", "my results"]) == (
        "python -m reproduce dense --out 'my results'"
    )
    monkeypatch.setattr(sys, "argv", ["/x/reproduce/__main__.py", "all", "--data", "a b.json"])
    command = provenance.command_line()
    assert command == "python -m reproduce all --data 'a b.json'"
    assert shlex.split(command)[-1] == "a b.json"
    monkeypatch.setattr(sys, "argv", ["/usr/bin/reproduce", "resnet"])
    assert provenance.command_line() == "python -m reproduce resnet"


def test_git_commit_is_marked_dirty_only_for_tracked_changes(tmp_path):
    assert provenance.git_commit(tmp_path) is None  # not a repository

    def git(*args):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
            cwd=tmp_path, check=True, capture_output=True,
        )  # fmt: skip

    git("init", "-q")
    (tmp_path / "a.txt").write_text("1")
    git("add", "a.txt")
    git("commit", "-q", "-m", "one")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True
    ).stdout.strip()
    assert provenance.git_commit(tmp_path) == head
    (tmp_path / "results.json").write_text("{}")  # untracked output: still clean
    assert provenance.git_commit(tmp_path) == head
    (tmp_path / "a.txt").write_text("2")
    assert provenance.git_commit(tmp_path) == head + "-dirty"


def test_versions_and_hardware():
    found = provenance.versions()
    import keras

    assert found["keras"] == keras.__version__ and found["numpy"] == np.__version__
    assert found["python"] == ".".join(map(str, sys.version_info[:3]))
    import odelayers
    import reproduce

    assert (
        found["odelayers"] == odelayers.__version__ == reproduce.__version__ == found["reproduce"]
    )
    assert re.search(r", \d+ cores; (no GPU|GPU: .+)$", provenance.hardware())


# --------------------------------------------------------------------------- plots


def test_plot_history_of_rows_draws_loss_and_accuracy_side_by_side(tmp_path):
    rows = [{"epoch": e, "loss": 1.0 / e, "accuracy": 0.5 + e / 10} for e in (1, 2, 3)]
    out = plot_history(rows, tmp_path / "curves.png", "dense, stand-in data: 3 epochs")
    assert out.read_bytes()[:8] == PNG
    from matplotlib.image import imread

    height, width = imread(out).shape[:2]
    assert width > height  # two panels side by side


def test_plot_history_without_accuracy_draws_the_loss_only(tmp_path):
    out = plot_history({"loss": [3.0, 2.0]}, tmp_path / "loss.png", "regression")
    from matplotlib.image import imread

    height, width = imread(out).shape[:2]
    assert width < 1.6 * height


def test_git_commit_is_dirty_for_changed_code_not_for_changed_results(tmp_path):
    import shutil
    import subprocess

    if shutil.which("git") is None:
        pytest.skip("git is not installed")

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "metrics.json").write_text("{}\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.strip()

    assert provenance.git_commit(tmp_path) == head
    (tmp_path / "results" / "metrics.json").write_text('{"a": 1}\n')  # a regenerated result
    assert provenance.git_commit(tmp_path) == head
    (tmp_path / "code.py").write_text("x = 2\n")  # changed code
    assert provenance.git_commit(tmp_path) == f"{head}-dirty"
