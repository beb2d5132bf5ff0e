"""The examples in examples/ run end to end (--tiny) and their numbers say they learned."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_example(name: str, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, str(ROOT / "examples" / f"{name}.py"), "--tiny", "--out", str(out)]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    png = out / f"{name}.png"
    assert png.is_file() and png.read_bytes()[:8] == PNG_SIGNATURE
    return json.loads((out / f"{name}_results.json").read_text())


@pytest.mark.slow  # among the slowest: the default selection stays under 8 minutes on 2 cores
def test_spiral_learns(tmp_path):
    results = run_example("spiral", tmp_path)
    assert results["final_loss"] < results["initial_loss"], results["loss"]


@pytest.mark.slow  # about 50 s on 2 cores, most of it tracing the adjoint solve
def test_odenet_digits_learns_and_round_trips(tmp_path):
    results = run_example("odenet_digits", tmp_path)
    assert results["test_accuracy"] > 0.1  # chance for 10 balanced classes
    assert results["round_trip_same"]
    assert results["nfe"] > 0
    assert (tmp_path / "odenet_digits.keras").is_file()


@pytest.mark.slow  # a minute on 2 cores (more when busy), most of it tracing the CDE's steps
def test_functional_cde_learns(tmp_path):
    from importlib.util import find_spec

    if find_spec("sktime") is None:
        pytest.skip("sktime (the functional extra, where Tecator ships) is not installed")
    results = run_example("functional_cde", tmp_path)
    assert results["loss"][-1] < results["loss"][0], results["loss"]
    assert results["cde_test_rmse"] < 3 * results["mean_test_rmse"]
