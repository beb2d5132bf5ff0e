"""``--distribute multiworker``: MultiWorkerMirroredStrategy across processes on localhost.

Each worker is a subprocess given its own ``TF_CONFIG`` (two workers, one CPU
replica each). The reference is Keras' ``fit`` without any strategy on the
whole batch: the two workers see one half of each batch each, their
gradients are summed, so their weights must equal the reference's up to
float32 rounding, and each other's.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reproduce.engine import distribution as multiworker
from reproduce.errors import ReproduceError

ROOT = Path(__file__).resolve().parents[1]

# Trains a tiny dense model and a tiny ODE-block model for one epoch of two
# batches of 8 (SGD, no shuffling) and saves initial and final weights.
TRAIN = r"""
import json, os, sys
import numpy as np
out, workers = sys.argv[1], int(sys.argv[2])
import tensorflow as tf
import keras
import odelayers
from reproduce.engine.distribution import adapt

strategy = tf.distribute.MultiWorkerMirroredStrategy() if workers > 1 else None
rng = np.random.default_rng(0)
x = rng.normal(size=(16, 4)).astype("float32")
y = (x[:, :1] + x[:, 1:2] > 0).astype("float32")


class Dynamics(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = odelayers.ConcatDense(4, activation="tanh")

    def call(self, h, t):
        return self.inner(h, t=t)


def build(kind):
    keras.utils.set_random_seed(1)
    layers = [keras.Input((4,))]
    if kind == "ode":
        layers.append(odelayers.ODEBlock(Dynamics(), method="rk4", num_steps=2))
    layers += [keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(1, "sigmoid")]
    model = keras.Sequential(layers)
    model.compile(keras.optimizers.SGD(0.5), "binary_crossentropy", metrics=["accuracy"])
    return model


data = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
options = tf.data.Options()
options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
data = data.with_options(options)
saved = {}
for kind in ("dense", "ode"):
    if strategy is None:
        model = build(kind)
    else:
        with strategy.scope():
            model = build(kind)
    adapt(model)
    saved[kind + "_init"] = np.concatenate([w.ravel() for w in model.get_weights()])
    history = model.fit(data, epochs=1, verbose=0, shuffle=False)
    saved[kind] = np.concatenate([w.ravel() for w in model.get_weights()])
    saved[kind + "_loss"] = np.array(history.history["loss"])
np.savez(out, **saved)
"""


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def tf_config(ports: list[int], index: int) -> str:
    workers = [f"localhost:{port}" for port in ports]
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


def start(command: list[str], config: str | None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TF_CONFIG", None)
    if config is not None:
        env["TF_CONFIG"] = config
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def wait_all(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, output[-3000:]


@pytest.mark.slow  # three TensorFlow processes: about 45 s on two busy cores
def test_two_workers_train_like_one_process_on_the_whole_batch(tmp_path):
    ports = free_ports(2)
    outs = [tmp_path / f"{name}.npz" for name in ("worker0", "worker1", "one")]
    processes = [
        start([sys.executable, "-c", TRAIN, str(outs[i]), "2"], tf_config(ports, i))
        for i in range(2)
    ]
    processes.append(start([sys.executable, "-c", TRAIN, str(outs[2]), "1"], None))
    wait_all(processes)
    worker0, worker1, one = (np.load(out) for out in outs)
    for kind in ("dense", "ode"):
        # Same initial weights everywhere (same seed), and training moved them
        # far more than the tolerance, so the comparison below can fail.
        np.testing.assert_array_equal(worker0[kind + "_init"], one[kind + "_init"])
        assert np.max(np.abs(one[kind] - one[kind + "_init"])) > 1e-2, kind
        # The workers hold one model: their copies agree to the last bits.
        np.testing.assert_allclose(worker0[kind], worker1[kind], rtol=0, atol=1e-7)
        np.testing.assert_allclose(worker0[kind], one[kind], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(worker0[kind + "_loss"], one[kind + "_loss"], rtol=1e-5)


def losses(folder: Path) -> list[float]:
    with open(folder / "history.csv", newline="") as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


@pytest.mark.slow  # about 55 s
def test_the_command_line_on_two_workers(tmp_path):
    """``reproduce dense --distribute multiworker``: one process's numbers; the chief writes."""
    from reproduce.data import synthetic

    data = tmp_path / "train.json"
    data.write_text(json.dumps(synthetic.synthetic_train(n=40, seed=11)))
    argv = ["-m", "reproduce", "dense", "--data", str(data), "--out", str(tmp_path / "out")]
    argv += ["--epochs", "2", "--batch-size", "8", "--verbose", "0"]
    ports = free_ports(2)
    two = [*argv, "--run-name", "two", "--distribute", "multiworker"]
    processes = [start([sys.executable, *two], tf_config(ports, i)) for i in range(2)]
    processes.append(start([sys.executable, *argv, "--run-name", "one"], None))
    wait_all(processes)
    folders = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert folders == ["one", "two"]  # the second worker wrote nothing there
    metrics = json.loads((tmp_path / "out" / "two" / "metrics.json").read_text())
    assert metrics["status"] == "finished"
    described = metrics["distribute"]
    assert described["strategy"] == "multiworker" and described["task"] == "worker:0"
    assert described["workers"] == 2 and described["replicas"] == 2
    out = tmp_path / "out"
    np.testing.assert_allclose(losses(out / "two"), losses(out / "one"), rtol=1e-5)


def test_cluster_reads_tf_config():
    two = {"TF_CONFIG": tf_config([1, 2], 1)}
    assert multiworker.cluster(two) == {
        "workers": 2, "task_type": "worker", "task_index": 1, "chief": False
    }  # fmt: skip
    assert multiworker.cluster({})["chief"] and multiworker.cluster({})["workers"] == 1
    # A cluster naming a chief task: it is the chief, worker 0 is not.
    named = {"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"]}}
    chief = {"TF_CONFIG": json.dumps({**named, "task": {"type": "chief", "index": 0}})}
    worker = {"TF_CONFIG": json.dumps({**named, "task": {"type": "worker", "index": 0}})}
    assert multiworker.cluster(chief)["chief"] and multiworker.cluster(chief)["workers"] == 3
    assert not multiworker.cluster(worker)["chief"]
    with pytest.raises(ReproduceError, match="TF_CONFIG"):
        multiworker.cluster({"TF_CONFIG": "{not json"})


def test_only_the_chief_writes_the_run_folder(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.json").write_text('{"status": "running"}')
    monkeypatch.setenv("TF_CONFIG", tf_config([1, 2], 0))
    assert multiworker.worker_dir(run_dir, "multiworker") == run_dir
    monkeypatch.setenv("TF_CONFIG", tf_config([1, 2], 1))
    other = multiworker.worker_dir(run_dir, "multiworker")
    assert other != run_dir and other.name == "run"
    # A copy of the chief's folder, so that a resumed run resumes on every worker.
    assert (other / "metrics.json").read_text() == '{"status": "running"}'
    assert multiworker.worker_dir(run_dir, "mirrored") == run_dir


@pytest.mark.parametrize(
    "signum", [pytest.param(signal.SIGINT, marks=pytest.mark.slow), signal.SIGTERM]
)
def test_a_worker_that_never_starts_does_not_hold_the_others_beyond_a_signal(tmp_path, signum):
    from reproduce.data import synthetic

    data = tmp_path / "train.json"
    data.write_text(json.dumps(synthetic.synthetic_train(n=40, seed=11)))
    argv = [sys.executable, "-m", "reproduce", "dense", "--data", str(data), "--out", str(tmp_path)]
    process = start([*argv, "--distribute", "multiworker"], tf_config(free_ports(2), 0))
    lines = []
    for line in process.stdout:  # its peer never comes: it waits, and says for whom
        lines.append(line)
        if line.startswith("waiting for the workers at localhost:"):
            break
    process.send_signal(signum)
    output, _ = process.communicate(timeout=20)
    assert process.returncode in (130, -signum, 128 + signum), "".join(lines) + output
    assert "Traceback" not in output
    assert not any(tmp_path.glob("dense-*/checkpoint"))
