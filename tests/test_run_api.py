"""The engine's Run API: a run as fit/evaluate/record in one ``with`` block, resumed, refused."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from reproduce import engine
from reproduce.errors import ReproduceError

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("_tiny_run", HERE / "_tiny_run.py")
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)


def _train(run_dir, *, callbacks=(), record=None, **overrides):
    """One run through the Run API; returns (run, model, history)."""
    x_train, y_train, x_test, y_test = tiny.tiny_data()
    with tiny.open_run(run_dir, callbacks=callbacks, **overrides) as run:
        engine.seed_everything(run.config.train_seed)
        model = tiny.build_tiny()
        history = run.fit(model, x_train, y_train)
        run.evaluate(model, x_test, y_test)
        if record:
            run.record(**record)
    return run, model, history


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("api") / "uninterrupted"
    run, model, history = _train(run_dir, record={"r_style_test_accuracy": 0.5})
    return run_dir, run, model, history


def test_fit_evaluate_record_finish_the_run(uninterrupted):
    run_dir, run, model, history = uninterrupted
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics == run.metrics
    assert metrics["status"] == "finished" and metrics["epochs"] == tiny.EPOCHS
    assert [row["epoch"] for row in history] == list(range(1, tiny.EPOCHS + 1))
    _, _, x_test, y_test = tiny.tiny_data()
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=tiny.BATCH_SIZE, verbose=0)
    assert metrics["test_loss"] == loss and metrics["test_accuracy"] == accuracy
    assert metrics["r_style_test_accuracy"] == 0.5  # the recorded extra
    assert metrics["n_train"] == 64 and metrics["n_test"] == 16
    assert (run_dir / "model.keras").is_file() and not (run_dir / "checkpoint").exists()
    assert "Finished 6 epochs" in (run_dir / "log.txt").read_text()


def test_interrupted_run_resumed_through_a_new_run_equals_the_uninterrupted_one(
    uninterrupted, tmp_path
):
    keras = pytest.importorskip("keras")

    class SigintAt(keras.callbacks.Callback):  # a user pressing Ctrl-C in epoch 3
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if (self.epoch, batch) == (2, 1):
                os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(engine.TrainingInterrupted) as caught:
        _train(tmp_path, callbacks=[SigintAt()])
    assert caught.value.metrics["status"] == "interrupted" and caught.value.metrics["epochs"] == 2
    assert engine.read_metrics(tmp_path)["status"] == "interrupted"

    run, _, history = _train(tmp_path, record={"r_style_test_accuracy": 0.5})
    reference_dir, reference, _, reference_history = uninterrupted
    assert history == reference_history
    assert (tmp_path / "history.csv").read_text() == (reference_dir / "history.csv").read_text()
    assert run.metrics["test_loss"] == reference.metrics["test_loss"]
    assert [(s["start_epoch"], s["end_epoch"]) for s in run.metrics["sessions"]] == [(0, 2), (2, 6)]


def test_entering_a_finished_folder_without_force_is_refused(uninterrupted, tmp_path):
    run_dir = uninterrupted[0]
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    with pytest.raises(ReproduceError, match="--force"), tiny.open_run(run_dir):
        pytest.fail("the block must not run")
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == before
    # With force the folder is started over.
    with tiny.open_run(run_dir, force=True):
        assert not (run_dir / "metrics.json").exists()


def test_a_bug_after_fit_writes_failed_and_propagates(tmp_path):
    x_train, y_train, _, _ = tiny.tiny_data()
    with pytest.raises(ZeroDivisionError), tiny.open_run(tmp_path, epochs=1) as run:
        engine.seed_everything(tiny.SEED)
        run.fit(tiny.build_tiny(), x_train, y_train)
        1 / 0  # noqa: B018
    metrics = engine.read_metrics(tmp_path)
    assert metrics["status"] == "failed" and metrics["error_kind"] == "error"
    assert metrics["error"].startswith("ZeroDivisionError")
    assert (tmp_path / "checkpoint" / "state.json").is_file()  # still resumable


def test_a_block_left_before_fit_writes_nothing(tmp_path):
    with pytest.raises(RuntimeError, match="before"), tiny.open_run(tmp_path):
        raise RuntimeError("before fit")
    assert not (tmp_path / "metrics.json").exists()


def test_run_config_is_validated_and_frozen():
    with pytest.raises(ValueError, match="epochs"):
        engine.RunConfig("dense", epochs=0)
    with pytest.raises(ValueError, match="batch_size"):
        engine.RunConfig("dense", batch_size=0)
    with pytest.raises(ReproduceError, match="seed"):
        engine.RunConfig("dense", seed=2**32)
    with pytest.raises(ReproduceError, match="seed"):  # the command line's bound too
        engine.RunConfig("dense", train_seed=2**31)
    with pytest.raises(ValueError, match="preprocessing"):
        engine.RunConfig("resnet", preprocessing="r-array-only")
    config = engine.RunConfig("dense", seed=3)
    assert config.train_seed == 3
    with pytest.raises(AttributeError):
        config.epochs = 2


def test_importing_the_engine_does_not_import_tensorflow():
    code = (
        "import sys, reproduce.engine\n"
        "print([m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=HERE.parent, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
