"""Interrupting a real training process with a real signal, then resuming it.

Two processes are started at once (TensorFlow's import dominates their
cost): one receives SIGINT in the middle of epoch 3, the other SIGTERM twice
in the middle of epoch 4. Meanwhile this process trains the same run without
interruption. Resumed, both must give the uninterrupted history, digit for
digit (deterministic ops, same seed).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("_tiny_run", HERE / "_tiny_run.py")
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)


def _launch(run_dir: Path, *options: str) -> subprocess.Popen:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, str(HERE / "_tiny_run.py"), str(run_dir), *options],
        cwd=HERE.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("resume")
    processes = {
        # SIGINT after batch 2 of epoch 3: epochs 1-2 complete, epoch 3 partial.
        "sigint": _launch(base / "sigint", "--signal", "INT", "--at-epoch", "2", "--at-batch", "1"),
        # SIGTERM twice after batch 1 of epoch 4: the second one kills at once.
        "sigterm-twice": _launch(
            base / "sigterm-twice",
            "--signal",
            "TERM",
            "--at-epoch",
            "3",
            "--at-batch",
            "0",
            "--twice",
        ),
    }
    reference_dir = base / "uninterrupted"
    reference_metrics = tiny.run(reference_dir)
    finished = {}
    for name, process in processes.items():
        out, err = process.communicate(timeout=300)
        finished[name] = {"dir": base / name, "rc": process.returncode, "out": out, "err": err}
    finished["uninterrupted"] = {
        "dir": reference_dir,
        "metrics": reference_metrics,
        "history": (reference_dir / "history.csv").read_text(),
    }
    return finished


def _metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def _epochs(history_text: str) -> list[int]:
    return [int(line.split(",")[0]) for line in history_text.splitlines()[1:]]


def test_first_sigint_stops_after_saving_and_says_how_to_resume(runs):
    run = runs["sigint"]
    assert run["rc"] == 130, run["err"][-2000:]
    metrics = _metrics(run["dir"])
    assert metrics["status"] == "interrupted"
    assert metrics["epochs"] == 2 and metrics["epochs_planned"] == tiny.EPOCHS
    assert _epochs((run["dir"] / "history.csv").read_text()) == [1, 2]  # partial epoch 3 dropped
    state = json.loads((run["dir"] / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 2
    assert (run["dir"] / "checkpoint" / state["weights"]).is_file()
    assert (run["dir"] / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (run["dir"] / "model.keras").exists()
    # The user is told what happened and the exact command that resumes.
    assert "SIGINT received" in run["err"]
    assert "Resume it with: python " in run["out"]
    assert str(run["dir"]) in run["out"].split("Resume it with:")[1]
    assert "Traceback" not in run["err"]


def _copy(run, tmp_path, name="copy") -> Path:
    return Path(shutil.copytree(run["dir"], tmp_path / name))


@pytest.mark.parametrize("damage", ["deleted", "not json"])
def test_a_lost_metrics_json_resumes_from_the_intact_checkpoint(runs, tmp_path, damage):
    folder = _copy(runs["sigint"], tmp_path)
    if damage == "deleted":
        (folder / "metrics.json").unlink()
    else:
        (folder / "metrics.json").write_text("{not json")
    assert tiny.run(folder)["status"] == "finished"
    assert (folder / "history.csv").read_text() == runs["uninterrupted"]["history"]
    assert "resuming from the checkpoint, which is intact" in (folder / "log.txt").read_text()


def _damage_state(folder: Path, **changes) -> None:
    path = folder / "checkpoint" / "state.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.mark.parametrize(
    "damage, message",
    [
        ("weights", "is not the file its checkpoint saved"),
        ("epoch", "its epoch, history and weights file disagree"),
        ("history", "its epoch, history and weights file disagree"),
    ],
)
def test_a_checkpoint_that_is_not_its_runs_is_refused_and_nothing_is_overwritten(
    runs, tmp_path, damage, message
):
    from reproduce.errors import ReproduceError

    folder = _copy(runs["sigint"], tmp_path)
    state = json.loads((folder / "checkpoint" / "state.json").read_text())
    if damage == "weights":  # another run's weights under this run's name
        weights = folder / "checkpoint" / state["weights"]
        weights.write_bytes(weights.read_bytes()[:-1] + b"x")
    elif damage == "epoch":
        _damage_state(folder, epoch=1)
    else:
        _damage_state(folder, history="not a list")
    before = (folder / "metrics.json").read_text()
    with pytest.raises(ReproduceError, match=message):
        tiny.run(folder)
    assert (folder / "metrics.json").read_text() == before
    tiny.run(folder, force=True)  # --force starts over, and says what it discards
    log = (folder / "log.txt").read_text()
    assert "Starting over" in log and "--force was given" in log


def test_force_says_how_many_saved_epochs_it_discards(runs, tmp_path):
    folder = _copy(runs["sigint"], tmp_path)
    tiny.run(folder, force=True)
    assert "discarding its 2 saved epochs" in (folder / "log.txt").read_text()


def test_resumed_run_equals_the_uninterrupted_one(runs):
    run = runs["sigint"]
    metrics = tiny.run(run["dir"])
    assert metrics["status"] == "finished"
    history = (run["dir"] / "history.csv").read_text()
    assert _epochs(history) == list(range(1, tiny.EPOCHS + 1))  # every epoch exactly once
    assert history == runs["uninterrupted"]["history"]  # to the last digit
    reference = runs["uninterrupted"]["metrics"]
    assert metrics["test_loss"] == reference["test_loss"]
    assert metrics["test_accuracy"] == reference["test_accuracy"]
    assert [(s["start_epoch"], s["end_epoch"]) for s in metrics["sessions"]] == [(0, 2), (2, 6)]
    assert not (run["dir"] / "checkpoint").exists()


def test_second_signal_stops_at_once_and_the_folder_still_resumes(runs):
    run = runs["sigterm-twice"]
    assert run["rc"] == -signal.SIGTERM  # killed by the default action, not a clean exit
    metrics = _metrics(run["dir"])
    assert metrics["status"] == "running" and metrics["epochs"] == 3
    assert _epochs((run["dir"] / "history.csv").read_text()) == [1, 2, 3]
    tiny.run(run["dir"])
    assert (run["dir"] / "history.csv").read_text() == runs["uninterrupted"]["history"]


def test_same_seed_and_deterministic_give_the_same_history(runs, tmp_path):
    tiny.run(tmp_path / "again")
    assert (tmp_path / "again" / "history.csv").read_text() == runs["uninterrupted"]["history"]
    # ... and the seed matters: another seed gives other numbers.
    tiny.run(tmp_path / "other-seed", seed=tiny.SEED + 1)
    assert (tmp_path / "other-seed" / "history.csv").read_text() != runs["uninterrupted"]["history"]


def test_a_finished_runs_leftover_checkpoint_is_dropped_on_the_next_attempt(runs, tmp_path):
    from reproduce.errors import ReproduceError

    folder = _copy(runs["sigint"], tmp_path)
    if _metrics(folder)["status"] != "finished":  # not yet resumed by the test above
        tiny.run(folder)
    (folder / "checkpoint").mkdir()  # a kill after the commit, before the removal
    (folder / "checkpoint" / "epoch-0006.weights.h5").write_bytes(b"x" * 1000)
    with pytest.raises(ReproduceError, match="already holds a finished run"):
        tiny.run(folder)
    assert not (folder / "checkpoint").exists()
