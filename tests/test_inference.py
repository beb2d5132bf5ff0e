"""Inference-mode scores beside training (reproduce.inference) and the training seed.

The per-epoch test diagnostic must never change what training computes; the
final checks must say what the saved model does; ``train_seed`` must drive
the weights, dropout and shuffling while ``seed`` stays the split's.
"""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from reproduce import engine  # noqa: E402
from reproduce.curves import draw_history  # noqa: E402
from reproduce.inference import predicted_class_shares  # noqa: E402
from reproduce.keras22 import Keras22BatchNormalization  # noqa: E402

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("_tiny_run", HERE / "_tiny_run.py")
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)


def build_with_batch_norm():
    """Dropout and batch normalisation: the two layers that behave otherwise in training."""
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, activation="relu"),
            Keras22BatchNormalization(momentum=0.9),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def train(run_dir, *, test_data: bool, **spec_options):
    x_train, y_train, x_test, y_test = tiny.tiny_data()
    with tiny.open_run(run_dir, epochs=3, **spec_options) as run:
        engine.seed_everything(run.config.train_seed)
        model = build_with_batch_norm()
        history = run.fit(
            model, x_train, y_train, test_data=(x_test, y_test) if test_data else None
        )
        run.evaluate(model, x_test, y_test)
    return history, model, run.metrics


@pytest.fixture(scope="module")
def with_and_without(tmp_path_factory):
    root = tmp_path_factory.mktemp("diagnostic")
    return train(root / "with", test_data=True), train(root / "without", test_data=False)


def test_the_test_diagnostic_leaves_training_bit_identical(with_and_without):
    (history, model, _), (plain_history, plain_model, _) = with_and_without
    assert [set(row) for row in plain_history] == [{"epoch", "loss", "accuracy"}] * 3
    for row, plain in zip(history, plain_history):
        assert {k: row[k] for k in plain} == plain  # exactly, under deterministic=True
    for a, b in zip(model.weights, plain_model.weights):  # moving statistics included
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_the_test_diagnostic_is_recorded_per_epoch(with_and_without):
    (history, model, _), _ = with_and_without
    assert all({"test_loss", "test_accuracy"} <= set(row) for row in history)
    assert len({row["test_loss"] for row in history}) == 3  # it follows the training
    # scored in inference mode: after the last epoch it is what evaluate says
    _, _, x_test, y_test = tiny.tiny_data()
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=tiny.BATCH_SIZE, verbose=0)
    assert history[-1]["test_loss"] == pytest.approx(loss, rel=1e-6)
    assert history[-1]["test_accuracy"] == pytest.approx(accuracy, rel=1e-6)


def test_final_checks_in_metrics(with_and_without, tmp_path):
    (_, model, metrics), (_, _, plain_metrics) = with_and_without
    x_train, y_train, x_test, _ = tiny.tiny_data()
    loss, accuracy = model.evaluate(x_train, y_train, batch_size=tiny.BATCH_SIZE, verbose=0)
    assert metrics["train_loss_inference"] == pytest.approx(loss, rel=1e-6)
    assert metrics["train_accuracy_inference"] == pytest.approx(accuracy, rel=1e-6)
    # beside Keras' running means in training mode, which differ (dropout, batch statistics)
    assert metrics["train_loss"] != metrics["train_loss_inference"]
    predicted_iceberg = float(np.mean(model.predict(x_test, verbose=0)[:, 0] > 0.5))
    assert metrics["predicted_class_shares"] == {
        "0": pytest.approx(1 - predicted_iceberg),
        "1": pytest.approx(predicted_iceberg),
    }
    # without test data for the diagnostic, the end of the run still has its checks
    assert plain_metrics["train_loss_inference"] is not None


def test_predicted_class_shares_name_a_constant_classifier():
    x = np.zeros((10, 3), "float32")
    x[:4] = 1.0
    sigmoid = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    sigmoid.layers[0].set_weights([np.full((3, 1), 5.0, "float32"), np.array([-1.0], "float32")])
    assert predicted_class_shares(sigmoid, x, 4) == {"0": 0.6, "1": 0.4}
    sigmoid.layers[0].set_weights([np.zeros((3, 1), "float32"), np.array([-1.0], "float32")])
    assert predicted_class_shares(sigmoid, x, 4) == {"0": 1.0, "1": 0.0}  # constant
    softmax = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    softmax.layers[0].set_weights(
        [np.array([[0.0, 1.0]] * 3, "float32"), np.array([0.5, 0.0], "float32")]
    )
    assert predicted_class_shares(softmax, x, 4) == {"0": 0.6, "1": 0.4}


def test_training_seed_apart_from_the_split_seed(tmp_path, with_and_without):
    (history, _, metrics), _ = with_and_without
    assert metrics["seed"] == metrics["train_seed"] == tiny.SEED
    other_history, _, other = train(tmp_path / "other", test_data=True, train_seed=123)
    assert other["seed"] == tiny.SEED and other["train_seed"] == 123
    assert [r["loss"] for r in other_history] != [r["loss"] for r in history]
    again_history, _, _ = train(tmp_path / "again", test_data=True, train_seed=123)
    assert again_history == other_history
    saved = json.loads((tmp_path / "other" / "metrics.json").read_text())
    assert saved["train_seed"] == 123
    with open(tmp_path / "other" / "history.csv", newline="") as f:
        header = next(csv.reader(f))
    assert header == [
        "epoch",
        "loss",
        "accuracy",
        "test_loss",
        "test_accuracy",
        "test_accuracy_batch_stats",
    ]


def test_a_run_resumes_only_with_the_same_training_seed(tmp_path):
    from reproduce.errors import ReproduceError

    keras = pytest.importorskip("keras")

    class StopAfterEpoch1(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tiny.run(tmp_path, callbacks=[StopAfterEpoch1()], train_seed=4)
    with pytest.raises(ReproduceError, match="train_seed: 4 there, 5 here"):
        tiny.run(tmp_path, train_seed=5)
    with pytest.raises(ReproduceError, match="training seed"):
        tiny.config(tmp_path, train_seed=-1)


def test_curves_draw_the_test_scores_dashed_beside_the_training_ones():
    from matplotlib.figure import Figure

    axes = Figure().subplots(1, 2)
    history = {
        "loss": [0.7, 0.6],
        "accuracy": [0.5, 0.6],
        "test_loss": [0.72, 0.65],
        "test_accuracy": [0.5, 0.55],
    }
    draw_history(*axes, history, colour="tab:blue", label="run")
    for axis, test_values in ((axes[0], [0.72, 0.65]), (axes[1], [0.5, 0.55])):
        lines = {line.get_label(): line for line in axis.get_lines()}
        assert set(lines) == {"run", "run (test, inference mode)"}
        assert lines["run"].get_linestyle() == "-"
        assert lines["run (test, inference mode)"].get_linestyle() == "--"
        assert list(lines["run (test, inference mode)"].get_ydata()) == test_values


def test_curves_draw_the_batch_statistics_accuracy_dotted():
    from matplotlib.figure import Figure

    axes = Figure().subplots(1, 2)
    history = {
        "loss": [0.7, 0.6],
        "accuracy": [0.5, 0.6],
        "test_loss": [0.72, 0.65],
        "test_accuracy": [0.5, 0.55],
        "test_accuracy_batch_stats": [0.6, 0.8],
    }
    draw_history(*axes, history, colour="tab:blue", label="run")
    assert "run (test, batch statistics)" not in {line.get_label() for line in axes[0].get_lines()}
    lines = {line.get_label(): line for line in axes[1].get_lines()}
    assert lines["run (test, batch statistics)"].get_linestyle() == ":"
    assert list(lines["run (test, batch statistics)"].get_ydata()) == [0.6, 0.8]


def test_batch_statistics_accuracy_against_a_hand_normalised_model():
    # A network whose one batch norm has badly lagging moving statistics: in
    # inference mode it is a constant classifier; with each batch normalised by
    # its own statistics (dropout off) its accuracy is what a plain numpy
    # forward pass with those statistics predicts. The layer's variables and
    # the dropout rate come back unchanged.
    from reproduce.inference import batch_statistics_accuracy

    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 8)).astype("float32") + 5.0
    y = (x[:, 0] > 5.0).astype("float32")
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.BatchNormalization(momentum=0.99, epsilon=1e-3),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    kernel = np.zeros((8, 1), "float32")
    kernel[0, 0] = 4.0
    model.layers[-1].set_weights([kernel, np.array([0.0], "float32")])
    before = [v.numpy().copy() for v in model.layers[0].variables]

    got = batch_statistics_accuracy(model, x, y, batch_size=16)

    want = 0
    for start in range(0, 40, 16):
        xb = x[start : start + 16, 0]
        z = 4.0 * (xb - xb.mean()) / np.sqrt(xb.var() + 1e-3)
        want += int(np.sum((z > 0) == (y[start : start + 16] > 0.5)))
    assert got == pytest.approx(want / 40)
    assert got > 0.7  # the hand computation: the batches do classify
    # inference mode (moving mean 0, variance 1 at the start): every input is class 1
    inference = np.asarray(model(x, training=False))[:, 0] > 0.5
    assert inference.all()
    for a, b in zip(before, model.layers[0].variables):
        np.testing.assert_array_equal(a, b.numpy())
    assert model.layers[1].rate == 0.5


def test_batch_statistics_column_in_history(with_and_without):
    # recorded every epoch for a model with batch norm, and with the test
    # diagnostic on, training stayed bit-identical (the test above)
    (history, _, _), _ = with_and_without
    values = [row["test_accuracy_batch_stats"] for row in history]
    _, _, x_test, _ = tiny.tiny_data()
    assert len(values) == 3
    assert all(v * len(x_test) == pytest.approx(round(v * len(x_test))) for v in values)
