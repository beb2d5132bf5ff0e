"""Training under tf.distribute.MirroredStrategy from the command line: same numbers as one device.

Logical devices must be configured before TensorFlow starts, so each run is a
subprocess (the launcher below splits the CPU into N logical devices).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

LAUNCH = r"""
import sys
import tensorflow as tf

devices = int(sys.argv[1])
if devices > 1:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * devices)
from reproduce import cli

sys.exit(cli.main(sys.argv[2:]))
"""


@pytest.fixture(scope="module")
def tiny_json(tmp_path_factory):
    from reproduce.data import synthetic

    path = tmp_path_factory.mktemp("data") / "train.json"
    path.write_text(json.dumps(synthetic.synthetic_train(n=40, seed=11)))
    return path


def launch(devices: int, argv: list[str], env: dict | None = None, wait: bool = True):
    command = [sys.executable, "-c", LAUNCH, str(devices), *argv]
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    if not wait:
        return subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, text=True)
    done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def losses(folder: Path) -> list[float]:
    with open(folder / "history.csv", newline="") as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


def common(data: Path, out: Path, model: str = "dense") -> list[str]:
    return [model, "--data", str(data), "--out", str(out), "--epochs", "2", "--batch-size", "8"]


def test_mirrored_on_two_devices_trains_like_one(tiny_json, tmp_path):
    argv = [*common(tiny_json, tmp_path), "--verbose", "0"]
    launch(1, [*argv, "--run-name", "one"])
    launch(2, [*argv, "--run-name", "two", "--distribute", "mirrored"])
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert two["distribute"]["strategy"] == "mirrored" and two["distribute"]["replicas"] == 2
    assert two["status"] == "finished"
    # Same weights, same batches, gradients summed over the replicas: equal up to rounding.
    np.testing.assert_allclose(losses(tmp_path / "two"), losses(tmp_path / "one"), rtol=1e-4)
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert "distribute" not in one
    assert two["test_accuracy"] == pytest.approx(one["test_accuracy"], abs=1e-6)


@pytest.mark.slow  # three models, about 2 minutes on two busy cores
def test_the_three_models_train_under_mirrored(tiny_json, tmp_path):
    """resnet and odenet too; their batch-norm statistics are per replica (Keras' default)."""
    argv = ["all", "--data", str(tiny_json), "--out", str(tmp_path), "--epochs", "1"]
    argv += ["--batch-size", "4", "--limit-train", "8", "--limit-test", "4", "--verbose", "0"]
    argv += ["--hidden-channels", "8", "--method", "rk4", "--step-size", "0.5"]
    launch(2, [*argv, "--run-name", "m", "--distribute", "mirrored"])
    for model in ("dense", "resnet", "odenet"):
        metrics = json.loads((tmp_path / f"m-{model}" / "metrics.json").read_text())
        assert metrics["status"] == "finished", model
        assert metrics["distribute"]["replicas"] == 2, model
        assert all(np.isfinite(losses(tmp_path / f"m-{model}"))), model
    odenet = json.loads((tmp_path / "m-odenet" / "metrics.json").read_text())
    # rk4 with 2 steps is 8 evaluations on each replica: the maximum over replicas, not the sum.
    assert odenet["nfe"]["last_forward"] == 8
