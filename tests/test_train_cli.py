"""The training commands: options, the --quick preset, run names, and tiny end-to-end runs."""

from __future__ import annotations

import argparse
import csv
import json
import math
import shlex
import sys
from pathlib import Path

import pytest

from reproduce import cli, settings
from reproduce.commands import train


def parse(*argv: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(list(argv))


@pytest.mark.parametrize("command", ["dense", "resnet", "odenet", "all"])
def test_help_explains_every_option(command, capsys):
    with pytest.raises(SystemExit) as exc:
        parse(command, "--help")
    assert exc.value.code == 0
    text = capsys.readouterr().out
    options = [
        "--data",
        "--epochs",
        "--batch-size",
        "--seed",
        "--preprocessing",
        "--out",
        "--quick",
        "--run-name",
        "--resume",
        "--no-resume",
        "--force",
        "--deterministic",
        "--sample-kind",
        "--verbose",
        "--limit-train",
        "--limit-test",
        "--semantics",
        "--train-seed",
    ]
    ode_options = ["--method", "--rtol", "--atol", "--gradient", "--step-size", "--hidden-channels"]
    for option in options + (ode_options if command in ("odenet", "all") else []):
        assert option in text, option
    if command in ("dense", "resnet"):
        assert "--method" not in text


def test_the_solver_choices_spelled_out_in_settings_are_odelayers_own():
    import odelayers

    assert settings.METHODS == odelayers.METHODS and settings.GRADIENTS == odelayers.GRADIENTS
    assert settings.FIXED_STEP_METHODS == odelayers.FIXED_STEP_METHODS
    solver = odelayers.SolverOptions(**settings.ODENET_SOLVER)
    assert train.resolve_options("odenet", parse("odenet")).solver == solver


@pytest.mark.parametrize("command", [[], ["odenet"], ["compare"], ["figures"], ["data"]])
def test_help_answers_at_once_without_importing_tensorflow(command):
    import os
    import subprocess
    import time

    code = (
        "import runpy, sys\n"
        f"sys.argv = ['reproduce', *{command!r}, '--help']\n"
        "try:\n    runpy.run_module('reproduce', run_name='__main__')\n"
        "except SystemExit as exit:\n    assert exit.code == 0, exit.code\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root}
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "False False"
    assert time.perf_counter() - began < 5


def test_defaults_are_the_reports_settings():
    args = parse("resnet")
    resolved = train.resolve_options("resnet", args)
    assert (resolved.epochs, resolved.batch_size, resolved.seed) == (150, 32, 1)
    assert resolved.preprocessing == "r" and resolved.sample_kind == "Rounding"
    assert resolved.out == "runs" and resolved.resume and not resolved.force
    assert (
        resolved.limit_train is None and resolved.limit_test is None and resolved.quick_shrank == ()
    )
    assert resolved.semantics == "keras22" and resolved.train_seed == resolved.seed == 1


def test_training_seed_and_semantics_options():
    resolved = train.resolve_options("dense", parse("dense", "--seed", "3"))
    assert (resolved.seed, resolved.train_seed) == (3, 3)  # the split's seed unless given
    args = parse("dense", "--seed", "3", "--train-seed", "9", "--semantics", "keras3")
    resolved = train.resolve_options("dense", args)
    assert (resolved.seed, resolved.train_seed, resolved.semantics) == (3, 9, "keras3")
    assert "seed 3 (training seed 9)" in resolved.describe(10, 5)
    assert "semantics keras3" in resolved.describe(10, 5)
    assert resolved.recorded()["semantics"] == "keras3"
    with pytest.raises(SystemExit):
        parse("dense", "--semantics", "keras2")


def test_odenet_solver_defaults_and_the_step_size_follows_the_method():
    # The report's adaptive solver with the adjoint, at Chen et al.'s tolerances; no step size.
    solver = train.resolve_options("odenet", parse("odenet")).solver
    assert (solver.method, solver.gradient, solver.step_size) == ("dopri5", "adjoint", None)
    assert (solver.rtol, solver.atol) == (1e-3, 1e-3)
    solver = train.resolve_options("odenet", parse("odenet", "--method", "rk4")).solver
    assert (solver.method, solver.step_size) == ("rk4", 0.5)
    solver = train.resolve_options("odenet", parse("odenet", "--method", "euler")).solver
    assert solver.step_size == 0.5
    args = parse("odenet", "--method", "rk4", "--step-size", "0.25")
    assert train.resolve_options("odenet", args).solver.step_size == 0.25


def test_quick_preset_shrinks_and_says_so_and_explicit_options_win():
    args = parse("all", "--quick")
    for model in settings.MODELS:
        resolved = train.resolve_options(model, args)
        preset = settings.QUICK[model]
        assert resolved.epochs == preset.epochs < 150
        assert resolved.limit_train == preset.limit_train
        assert any(line.startswith("epochs 150 ->") for line in resolved.quick_shrank)
    cnn = train.resolve_options("resnet", args)  # every image of R's split, fewer epochs
    assert cnn.limit_train is None and not any("training images" in s for s in cnn.quick_shrank)

    args = parse("resnet", "--quick", "--epochs", "2", "--limit-train", "10")
    resolved = train.resolve_options("resnet", args)
    assert resolved.epochs == 2 and resolved.limit_train == 10
    assert not any("epochs" in s or "training" in s for s in resolved.quick_shrank)


class _Source:
    def __init__(self, kind):
        self.kind = kind


def test_run_names():
    real, standin = _Source("real"), _Source("stand-in")
    args = train.resolve_options("dense", parse("dense"))
    assert args.run_dir(real).name == "dense-r-real-e150"
    args = train.resolve_options("dense", parse("dense", "--preprocessing", "r-array-only"))
    assert args.run_dir(real).name == "dense-r-array-only-real-e150"
    args = train.resolve_options("odenet", parse("all", "--quick", "--preprocessing", "corrected"))
    assert args.run_dir(standin).name == "odenet-corrected-standin-quick"
    args = train.resolve_options("resnet", parse("resnet", "--epochs", "5", "--limit-train", "64"))
    assert args.run_dir(standin).name == "resnet-r-standin-e5-n64xall"
    args = train.resolve_options("resnet", parse("all", "--run-name", "trial"))
    assert args.run_dir(real).name == "trial-resnet"
    args = train.resolve_options("resnet", parse("resnet", "--run-name", "trial"))
    assert args.run_dir(real).name == "trial"


def test_bad_option_values_are_refused(capsys):
    for argv in (
        ["dense", "--epochs", "0"],
        ["dense", "--preprocessing", "python"],
        ["odenet", "--method", "magic"],
        ["odenet", "--rtol", "-1"],
        ["resnet", "--preprocessing", "r-array-only"],
        ["all", "--preprocessing", "r-scaling-only"],
    ):
        with pytest.raises(SystemExit) as exc:
            parse(*argv)
        assert exc.value.code == 2


# ---------------------------------------------------------------- end to end (tiny)

METRICS_KEYS = {
    "model",
    "preprocessing",
    "status",
    "epochs",
    "epochs_planned",
    "batch_size",
    "seed",
    "quick",
    "test_loss",
    "test_accuracy",
    "train_loss",
    "train_accuracy",
    "params",
    "trainable_params",
    "wall_time_s",
    "seconds_per_epoch",
    "nfe",
    "command",
    "argv",
    "data",
    "versions",
    "git_commit",
    "date",
    "hardware",
}


@pytest.fixture(scope="module")
def tiny_json(tmp_path_factory):
    from reproduce.data import synthetic

    path = tmp_path_factory.mktemp("data") / "train.json"
    path.write_text(json.dumps(synthetic.synthetic_train(n=40, seed=7)))
    return path


def run_cli(argv, monkeypatch):
    """``python -m reproduce ARGV`` in this process (sys.argv as ``-m`` leaves it)."""
    import reproduce.__main__

    monkeypatch.setattr(sys, "argv", [reproduce.__main__.__file__, *argv])
    return cli.main(argv)


def check_run_folder(folder, model, epochs, argv):
    """Every file of the run-folder contract, and the metrics a user reads."""
    for name in ("metrics.json", "history.csv", "curves.png", "log.txt", "model.keras"):
        assert (folder / name).is_file(), (folder.name, name)
    assert (folder / "curves.png").read_bytes().startswith(b"\x89PNG")
    metrics = json.loads((folder / "metrics.json").read_text())
    assert METRICS_KEYS <= set(metrics), METRICS_KEYS - set(metrics)
    assert metrics["status"] == "finished" and metrics["epochs"] == epochs
    assert metrics["model"] == model and metrics["preprocessing"] == "r"
    assert metrics["data"]["sha256"] and metrics["data"]["n_records"] == 40
    assert metrics["command"] == "python -m reproduce " + shlex.join(argv)
    assert metrics["params"] > metrics["trainable_params"] > 0 or model == "dense"
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and math.isfinite(metrics["test_loss"])
    with open(folder / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == list(range(1, epochs + 1))
    assert "loss" in rows[0] and "accuracy" in rows[0]
    return metrics, rows


def test_all_quick_like_writes_every_file_of_the_contract(tiny_json, tmp_path, capsys, monkeypatch):
    out = tmp_path / "results"
    argv = [
        "all",
        "--quick",
        "--data",
        str(tiny_json),
        "--out",
        str(out),
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--limit-train",
        "16",
        "--limit-test",
        "8",
        "--verbose",
        "0",
        "--eager",
        "--method",
        "rk4",
        "--step-size",
        "0.5",
        "--hidden-channels",
        "8",
    ]
    assert run_cli(argv, monkeypatch) == 0
    printed = capsys.readouterr().out
    assert "data:" in printed and "Total params" not in printed  # the summary: in the folder

    runs = sorted(p.name for p in out.iterdir() if p.is_dir())
    # a limited quick run gets its own folders, never those of a real quick run
    assert runs == [
        "dense-r-real-quick-n16x8",
        "odenet-r-real-quick-n16x8",
        "resnet-r-real-quick-n16x8",
    ]
    for run in runs:
        model = run.split("-")[0]
        metrics, rows = check_run_folder(out / run, model, 2, argv)
        assert "Total params" in (out / run / "summary.txt").read_text()
        assert metrics["quick"] and (metrics["n_train"], metrics["n_test"]) == (16, 8)
        assert metrics["semantics"] == "keras22" and metrics["seed"] == metrics["train_seed"] == 1
        # the per-epoch test diagnostic; after the last epoch it is the final test score
        assert all(r["test_loss"] and r["test_accuracy"] for r in rows)
        assert float(rows[-1]["test_loss"]) == pytest.approx(metrics["test_loss"], rel=1e-5)
        assert 0.0 <= metrics["train_accuracy_inference"] <= 1.0
        assert metrics["train_loss_inference"] > 0
        assert sum(metrics["predicted_class_shares"].values()) == pytest.approx(1.0)
        assert set(metrics["predicted_class_shares"]) == {"0", "1"}
        if model == "odenet":
            assert [float(r["nfe"]) for r in rows] == [8, 8]  # rk4, 2 steps of 4 evaluations
            assert metrics["nfe"]["last_forward"] == 8
            assert metrics["ode"]["method"] == "rk4"
        if model in ("resnet", "odenet"):
            assert metrics["r_style_test_accuracy"] == 0.5
        else:
            assert metrics["nfe"] is None and metrics.get("r_style_test_accuracy") is None

    # Rerunning the same `all` skips the finished runs instead of failing.
    assert run_cli(argv, monkeypatch) == 0
    assert capsys.readouterr().out.count("already holds a finished run") == 3


def test_single_model_refuses_to_overwrite_a_finished_run(tiny_json, tmp_path, capsys, monkeypatch):
    argv = [
        "dense",
        "--data",
        str(tiny_json),
        "--out",
        str(tmp_path),
        "--epochs",
        "1",
        "--verbose",
        "0",
        "--run-name",
        "once",
    ]
    assert run_cli(argv, monkeypatch) == 0
    check_run_folder(tmp_path / "once", "dense", 1, argv)
    assert run_cli(argv, monkeypatch) == 2
    assert "--force" in capsys.readouterr().err
    assert run_cli([*argv, "--force"], monkeypatch) == 0


@pytest.mark.slow
def test_odenet_compiled_default_solver_through_the_command_line(tiny_json, tmp_path, monkeypatch):
    argv = [
        "odenet",
        "--data",
        str(tiny_json),
        "--out",
        str(tmp_path),
        "--epochs",
        "1",
        "--limit-train",
        "16",
        "--limit-test",
        "8",
        "--verbose",
        "0",
        "--hidden-channels",
        "8",
    ]
    assert run_cli(argv, monkeypatch) == 0
    metrics, rows = check_run_folder(tmp_path / "odenet-r-real-e1-n16x8", "odenet", 1, argv)
    # the default solver, dopri5 with the adjoint: at least one step of 6 new evaluations
    assert (metrics["ode"]["method"], metrics["ode"]["gradient"]) == ("dopri5", "adjoint")
    assert float(rows[0]["nfe"]) >= 7


def test_data_too_small_to_split_is_refused_before_training(tmp_path, capsys, monkeypatch):
    from reproduce.data import synthetic

    records = synthetic.synthetic_train(n=2, seed=3)
    one = tmp_path / "one.json"
    one.write_text(json.dumps(records[:1]))
    out = tmp_path / "runs"
    argv = ["dense", "--epochs", "1", "--data", str(one), "--out", str(out), "--verbose", "0"]
    assert run_cli(argv, monkeypatch) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "1 record" in err and "at least 2" in err, err
    assert not out.exists()  # refused before a run folder was made

    two = tmp_path / "two.json"  # the minimum: one image to train on, one to test on
    two.write_text(json.dumps(records))
    argv[4] = str(two)
    assert run_cli(argv, monkeypatch) == 0
    metrics = json.loads(next(out.glob("*/metrics.json")).read_text())
    assert (metrics["n_train"], metrics["n_test"], metrics["status"]) == (1, 1, "finished")


def test_all_skips_a_finished_run_only_when_it_was_trained_on_the_same_data(tmp_path, capsys):
    from reproduce.engine import RunConfig, finished_run

    source = {"kind": "real", "sha256": "a" * 64}
    config = RunConfig("dense", out=str(tmp_path), in_all=True)
    folder = config.run_dir("real")
    folder.mkdir(parents=True)
    finished = {"status": "finished", "data": {"sha256": source["sha256"]}}
    (folder / "metrics.json").write_text(json.dumps(finished))
    assert finished_run(config, source) == finished
    assert "already holds a finished run" in capsys.readouterr().out

    source["sha256"] = "b" * 64  # same run name, other data: not skipped (the engine refuses)
    assert finished_run(config, source) is None


def test_a_solver_message_from_a_graph_reads_like_the_eager_one():
    import tensorflow as tf

    from reproduce.engine.failures import solver_failure

    text = (
        "Graph execution error:\n\nassertion failed: [odelayers: dopri5 gave up at t = 0.5. "
        "What to change: use method=\\'bdf\\'.]\n\t [[{{node assert}}]]"
    )
    assert solver_failure(tf.errors.InvalidArgumentError(None, None, text)) == (
        "odelayers: dopri5 gave up at t = 0.5. What to change: use method='bdf'."
    )
    other = tf.errors.InvalidArgumentError(None, None, "assertion failed: [x > 0]")
    assert solver_failure(other) is None


def test_quick_closing_lines_say_how_far_the_run_is_from_the_report():
    runs = [
        {
            "model": "dense",
            "status": "finished",
            "epochs": 30,
            "test_accuracy": 0.5461,
            "seconds_per_epoch": 2.0,
            "train_seed": 1,
        },
        {
            "model": "resnet",
            "status": "finished",
            "epochs": 7,
            "test_accuracy": 0.8816,
            "seconds_per_epoch": 58.0,
            "train_seed": 1,
        },
        {"model": "odenet", "status": "interrupted", "epochs": 3, "test_accuracy": 0.5},
        {
            "model": "resnet",
            "status": "finished",
            "epochs": 7,
            "test_accuracy": 0.7072,
            "seconds_per_epoch": 62.0,
            "train_seed": 2,
        },
    ]
    lines = train.quick_closing_lines(runs)
    assert any("dense: 30 of the report's 150 epochs, test accuracy 54.6 %" in s for s in lines)
    assert any("resnet: 7 of the report's 150 epochs, test accuracy 88.2 %" in s for s in lines)
    assert not any("odenet" in s for s in lines)  # an unfinished run is no evidence
    assert any("resnet: 7 of the report's 150 epochs, test accuracy 70.7 %" in s for s in lines)
    # One run per model, the seeds' times averaged: (2 + (58 + 62) / 2) s x 150 = 9300 s = 2.6 h
    assert any("about 2.6 h on this machine" in s for s in lines)
    assert any(s.startswith("Next: python -m reproduce figures") for s in lines)
    # The CNNs' epoch-to-epoch swings are named where a CNN ran, not for the dense network alone.
    assert any("batch norms' moving statistics" in s for s in lines)
    dense_only = train.quick_closing_lines(runs[:1])
    assert not any("moving statistics" in s for s in dense_only)


def test_quick_closing_lines_scale_a_limited_run_and_name_a_constant_classifier():
    run = {
        "model": "dense",
        "status": "finished",
        "epochs": 30,
        "test_accuracy": 0.5461,
        "seconds_per_epoch": 1.0,
        "n_train": 65,
        "train_seed": 1,
        "predicted_class_shares": {"0": 1.0, "1": 0.0},
    }
    lines = train.quick_closing_lines([run])
    # 1 s for 65 images is 20 s for R's 1300: 150 epochs x 20 s = 3000 s = 0.8 h
    assert any("about 0.8 h on this machine" in s for s in lines)
    assert any("a constant classifier" in s for s in lines)
    run["predicted_class_shares"] = {"0": 0.6, "1": 0.4}
    assert not any("constant" in s for s in train.quick_closing_lines([run]))


# ---------------------------------------------------------------- refusals in one line


@pytest.mark.parametrize(
    "argv, expected",
    [
        (
            ["odenet", "--rtol", "inf"],
            "argument --rtol: must be a positive finite number, got 'inf'",
        ),
        (["odenet", "--rtol", "1e400"], "argument --rtol: must be a positive finite number"),
        (["all", "--rtol", "nan"], "argument --rtol: must be a positive finite number"),
        (["odenet", "--atol", "inf"], "argument --atol: must be a positive finite number"),
        (["odenet", "--step-size", "inf"], "argument --step-size: must be at least 1e-4"),
        # 1e300 steps overflowed the fixed-step solvers' step count.
        (["odenet", "--step-size", "1e-300"], "--step-size: must be at least 1e-4 (10,000 steps"),
        (["dense", "--seed", "-1"], "argument --seed: must be a whole number from 0 to 2**31 - 1"),
        (["dense", "--seed", "4294967296"], "argument --seed: must be a whole number from 0"),
        (["dense", "--seed", str(2**31)], "argument --seed: must be a whole number from 0"),
        (["resnet", "--train-seeds", "3", "-5"], "--train-seeds/--train-seed: must be a whole"),
        (["dense", "--limit-train", "abc"], "--limit-train: must be a whole number from 1 to"),
        (["dense", "--batch-size", "1.5"], "--batch-size: must be a whole number from 1 to"),
        (["dense", "--run-name", "a/b"], "--run-name: must be a plain name, got 'a/b'"),
        # Weights of 2**31 channels would fail while the model is built, before any run folder.
        (["all", "--hidden-channels", str(2**31 - 1)], "--hidden-channels: must be from 1 to 1024"),
    ],
)
def test_hostile_values_are_refused_in_words(argv, expected, capsys):
    with pytest.raises(SystemExit) as exc:
        parse(*argv)
    assert exc.value.code == 2
    assert expected in capsys.readouterr().err.strip().splitlines()[-1]


def test_the_seed_range_is_what_rs_generator_takes(capsys):
    """The largest seed accepted draws R's split; R's own range ends one further."""
    from reproduce.preprocess import split_indices
    from reproduce.rcompat import RRandom

    largest = parse("dense", "--seed", str(2**31 - 1)).seed
    assert len(split_indices(10, 5, seed=largest)[0]) == 5
    with pytest.raises(ValueError):
        RRandom(largest + 1)
    with pytest.raises(SystemExit):
        parse("dense", "--help")
    assert "negative seeds, which R takes, are refused" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("where", ["FILE", "FILE/child"])
def test_an_existing_file_named_as_the_output_folder_is_refused(where, tmp_path, capsys):
    (tmp_path / "FILE").write_text("not a folder")
    for argv in (["dense", "--out"], ["all", "--tensorboard"], ["figures", "--out"],
                 ["compare", "--out"], ["compare", "--runs"]):  # fmt: skip
        with pytest.raises(SystemExit) as exc:
            parse(*argv, str(tmp_path / where))
        assert exc.value.code == 2
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert f"must name a folder: {tmp_path / 'FILE'} is a file" in last, last


def test_a_limit_above_its_side_of_the_split_is_refused_before_training(tmp_path, capsys):
    from reproduce.data import stand_in_json_bytes
    from reproduce.preprocess import default_n_train

    data = tmp_path / "train.json"
    data.write_bytes(stand_in_json_bytes(20, 0))
    n_train = default_n_train(20)
    base = ["dense", "--data", str(data), "--out", str(tmp_path / "runs")]
    train.check_limits(parse(*base, "--limit-train", str(n_train), "--limit-test", "1"))
    for option, limit in (("--limit-train", n_train + 1), ("--limit-test", 20 - n_train + 1)):
        assert cli.main([*base, option, str(limit)]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and f"{option}: the split of these 20 records has" in err, err
        assert f"give at most {limit - 1}" in err
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------- time left across runs


def test_the_time_left_comes_from_the_finished_runs_rates(tmp_path, monkeypatch, capsys):
    """A fake clock and fake models: each epoch costs a fixed time per model."""
    import types

    import reproduce

    per_epoch = {"dense": 0.5, "resnet": 20.0, "odenet": 15.0}
    clock = [1000.0]

    def fake_model(name):
        def main(config):
            wall = per_epoch[name] * config.epochs
            clock[0] += wall + 1.0  # one second outside the epochs: data, build, evaluation
            return {"model": name, "status": "finished", "epochs": config.epochs,
                    "wall_time_s": wall, "seconds_per_epoch": wall / config.epochs,
                    "test_accuracy": 0.5, "n_train": 1300, "train_seed": config.train_seed}  # fmt: skip

        return types.SimpleNamespace(main=main)

    for name in settings.MODELS:
        module = fake_model(name)
        monkeypatch.setitem(sys.modules, f"reproduce.{name}", module)
        monkeypatch.setattr(reproduce, name, module, raising=False)
    monkeypatch.setattr(train.time, "monotonic", lambda: clock[0])
    argv = ["all", "--quick", "--train-seeds", "1", "2", "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[run ")]
    plan = [m for _ in (1, 2) for m in settings.MODELS]
    epochs = {m: settings.QUICK[m].epochs for m in settings.MODELS}
    assert [line.split(";")[0] for line in lines] == [
        f"[run {k + 1} of 6: {m}" for k, m in enumerate(plan)
    ]
    # Nothing before a first run has finished, nor while a model left has no rate.
    assert not any("left" in line for line in lines[:3])
    run_s = {m: per_epoch[m] * epochs[m] + 1.0 for m in settings.MODELS}  # set-up included
    for k in range(3, 6):  # every model timed: the estimate is the time the runs then take
        expected = sum(run_s[m] for m in plan[k:])
        assert f"; about {expected / 60:.1f} min left]" in lines[k]
    so_far = sum(per_epoch[m] * epochs[m] + 1.0 for m in plan[:5])
    assert lines[5].startswith(f"[run 6 of 6: odenet; {so_far / 60:.1f} min so far")
