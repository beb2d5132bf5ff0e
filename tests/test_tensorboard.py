"""TensorBoard logs: Keras' own callback, one point per completed epoch, equal to history.csv."""

from __future__ import annotations

import csv
import json
import sys

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from reproduce import cli  # noqa: E402
from reproduce.engine.checkpoint import CompletedEpochsTensorBoard  # noqa: E402


def scalars(log_dir, tag: str) -> dict[int, float]:
    """step -> value of one scalar, read back from the event files under ``log_dir/train``."""
    found = {}
    for path in sorted((log_dir / "train").glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag == tag:
                    found[int(event.step)] = float(tf.make_ndarray(value.tensor))
    return found


class StopMidEpoch(keras.callbacks.Callback):
    """Stops ``fit`` in the middle of epoch ``epoch`` (0-based), as a signal would."""

    def __init__(self, epoch: int):
        super().__init__()
        self.stop_epoch, self.current = epoch, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.stop_epoch and batch == 1:
            self.model.stop_training = True


def test_an_epoch_cut_short_is_not_logged(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.random.default_rng(0).normal(size=(40, 3)), np.zeros((40, 1))
    board = CompletedEpochsTensorBoard(tmp_path / "tb")
    history = model.fit(
        x, y, batch_size=8, epochs=5, verbose=0, shuffle=False, callbacks=[StopMidEpoch(2), board]
    )
    logged = scalars(tmp_path / "tb", "epoch_loss")
    assert sorted(logged) == [0, 1]  # epoch 2 stopped after 2 of 5 batches: not logged
    np.testing.assert_allclose([logged[0], logged[1]], history.history["loss"][:2], rtol=1e-6)
    # Keras' own callback logs the partial epoch too, which is what the subclass avoids.
    plain = keras.callbacks.TensorBoard(tmp_path / "plain", profile_batch=0)
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[StopMidEpoch(1), plain])
    assert sorted(scalars(tmp_path / "plain", "epoch_loss")) == [0, 1]


def test_tensorboard_option_logs_every_epoch_of_the_run(tmp_path, monkeypatch):
    from reproduce.data import synthetic

    data = tmp_path / "train.json"
    data.write_text(json.dumps(synthetic.synthetic_train(n=24, seed=5)))
    argv = ["dense", "--data", str(data), "--out", str(tmp_path / "runs"), "--epochs", "3"]
    argv += ["--verbose", "0", "--run-name", "tb", "--tensorboard", str(tmp_path / "tb")]
    monkeypatch.setattr(sys, "argv", ["reproduce", *argv])
    assert cli.main(argv) == 0
    with open(tmp_path / "runs" / "tb" / "history.csv", newline="") as f:
        history = list(csv.DictReader(f))
    logged = scalars(tmp_path / "tb" / "tb", "epoch_loss")
    assert sorted(logged) == [0, 1, 2]
    np.testing.assert_allclose(
        [logged[e] for e in range(3)], [float(r["loss"]) for r in history], rtol=1e-6
    )
    metrics = json.loads((tmp_path / "runs" / "tb" / "metrics.json").read_text())
    assert metrics["tensorboard"] == str(tmp_path / "tb" / "tb")
