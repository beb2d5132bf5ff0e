"""The ODE-Net's --trainable-t1: parsed, part of the settings a resume must match, logged."""

import csv
import json
import sys

import pytest

from reproduce import cli
from reproduce.commands import train
from reproduce.data import synthetic


def parse(*argv):
    return cli.build_parser().parse_args(list(argv))


def test_option_reaches_run_options_for_odenet_and_all(capsys):
    assert train.resolve_options("odenet", parse("odenet", "--trainable-t1")).trainable_t1
    assert train.resolve_options("odenet", parse("all", "--trainable-t1")).trainable_t1
    assert not train.resolve_options("odenet", parse("odenet")).trainable_t1
    assert not train.resolve_options("resnet", parse("resnet")).trainable_t1
    with pytest.raises(SystemExit):
        parse("odenet", "--help")
    assert "--trainable-t1" in capsys.readouterr().out


def test_eager_run_logs_t1_per_epoch_and_records_the_learned_value(tmp_path, monkeypatch):
    data = tmp_path / "train.json"
    data.write_text(json.dumps(synthetic.synthetic_train(n=40, seed=7)))
    argv = [
        "odenet",
        "--data",
        str(data),
        "--out",
        str(tmp_path),
        "--run-name",
        "t1",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--limit-train",
        "8",
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
        "--trainable-t1",
    ]
    import reproduce.__main__

    monkeypatch.setattr(sys, "argv", [reproduce.__main__.__file__, *argv])
    assert cli.main(argv) == 0
    with open(tmp_path / "t1" / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    metrics = json.loads((tmp_path / "t1" / "metrics.json").read_text())
    logged = [float(row["t1"]) for row in rows]
    # One batch an epoch: each row holds the t1 of that batch's forward pass,
    # so 1 (where it starts) and then the value after the first update.
    assert logged[0] == 1.0 and logged[1] != 1.0
    assert metrics["ode"]["trainable_t1"] is True  # resuming needs the same setting
    assert metrics["learned_t1"] > 0.0 and metrics["learned_t1"] != pytest.approx(1.0, abs=1e-7)
    assert [float(row["nfe"]) for row in rows] == [8, 8]  # rk4 keeps its 2 steps
