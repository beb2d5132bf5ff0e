"""The three models: structure, parameter counts from the layer sizes, training through fit, saving.

Inputs come from the generated stand-in (a few dozen images), built here
directly from its arrays so that these tests depend on the models only.
"""

from __future__ import annotations

import numpy as np
import pytest

from reproduce._quiet import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402

from reproduce.data import synthetic  # noqa: E402
from reproduce.keras22 import Keras22BatchNormalization, Keras22BinaryCrossentropy  # noqa: E402
from reproduce.models import build_dense, build_odenet, build_resnet, r_style_accuracy  # noqa: E402


def conv_params(k: int, c_in: int, c_out: int) -> int:
    """A k x k convolution with bias."""
    return k * k * c_in * c_out + c_out


def dense_params(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def bn_params(channels: int) -> int:
    """gamma, beta (trainable) and moving mean, variance (not trainable)."""
    return 4 * channels


#: Keras 2.2's batch norm (the default semantics) also keeps its number of
#: updates, one non-trainable scalar per layer, for its zero-debiased averages.
DEBIAS_STATE = 1


@pytest.fixture(scope="module")
def images():
    """24 stand-in records as the dense and the residual scripts' inputs (corrected layout)."""
    a = synthetic.synthetic_arrays(n=24, seed=3)
    hh = a["band_1"].reshape(-1, 75, 75)
    hv = a["band_2"].reshape(-1, 75, 75)
    labels = a["is_iceberg"].astype("float32")
    return {
        "dense_x": (hh / np.abs(hh).max()).astype("float32"),
        "dense_y": labels,
        "cnn_x": np.stack([hh, hv, (hh + hv) / 2], axis=-1).astype("float32"),
        "cnn_y": np.stack([1 - labels, labels], axis=-1),
    }


def small_odenet(**kwargs):
    """The ODE-Net with a fixed-step solver: fast and with a known NFE."""
    options = dict(method="rk4", step_size=0.5, gradient="backprop")
    options.update(kwargs)
    return build_odenet(**options)


# ------------------------------------------------------------------ dense


def test_dense_layers_and_parameter_count():
    keras.utils.set_random_seed(0)
    model = build_dense()
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Flatten", "Dense", "Dense", "Dense", "Dense", "Dense"]
    assert model.input_shape == (None, 75, 75)
    assert [layer.units for layer in model.layers[1:]] == [128, 128, 128, 128, 1]
    assert [layer.activation.__name__ for layer in model.layers[1:]] == ["relu"] * 4 + ["sigmoid"]
    expected = (5625 * 128 + 128) + 3 * (128 * 128 + 128) + (128 + 1)
    assert model.count_params() == expected


def test_dense_is_compiled_with_r_keras_defaults():
    model = build_dense()
    opt = model.optimizer
    assert isinstance(opt, keras.optimizers.SGD)
    assert float(opt.learning_rate) == pytest.approx(0.01)
    assert opt.momentum == 0.0 and not opt.nesterov
    assert isinstance(model.loss, Keras22BinaryCrossentropy)  # what R keras computed
    assert build_dense(semantics="keras3").loss == "binary_crossentropy"
    # no batch norm: both semantics have R's parameter count
    assert build_dense(semantics="keras3").count_params() == 769_793


def test_dense_trains_through_fit_with_falling_loss(images):
    keras.utils.set_random_seed(1)
    model = build_dense()
    x, y = images["dense_x"], images["dense_y"]
    before = model.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    history = model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    after = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(history.history) >= {"loss", "accuracy"}
    assert after["loss"] < before
    assert 0.0 <= after["accuracy"] <= 1.0


# ------------------------------------------------------------------ residual CNN


def resnet_branch_params() -> int:
    """One R residual branch: BN, conv 5x5 64->128, BN, conv 5x5 128->64, BN."""
    return (
        bn_params(64)
        + conv_params(5, 64, 128)
        + bn_params(128)
        + conv_params(5, 128, 64)
        + bn_params(64)
    )


def resnet_expected_params() -> int:
    """The R graph's parameter count, layer by layer (5x5 kernels throughout)."""
    stem = (
        bn_params(3)
        + conv_params(5, 3, 32)
        + bn_params(32)
        + conv_params(5, 32, 64)
        + bn_params(64)
    )
    branch = resnet_branch_params()
    top = (
        conv_params(5, 64, 128)
        + bn_params(128)
        + conv_params(5, 128, 256)
        + bn_params(256)
        + conv_params(5, 256, 512)
        + bn_params(512)
    )
    head = (
        dense_params(512, 512)
        + bn_params(512)
        + dense_params(512, 256)
        + bn_params(256)
        + dense_params(256, 2)
    )
    return stem + 2 * branch + top + head


def test_resnet_graph_is_the_r_graph():
    keras.utils.set_random_seed(0)
    model = build_resnet()
    count = lambda kind: sum(type(layer).__name__ == kind for layer in model.layers)  # noqa: E731
    assert count("Conv2D") == 2 + 2 * 2 + 3
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(bns) == 1 + 2 + 2 * 3 + 3 + 2
    assert all(type(layer) is Keras22BatchNormalization for layer in bns)
    assert count("Dropout") == 2 + 2 * 1 + 2 + 2
    assert count("MaxPooling2D") == 2 + 3 and count("GlobalMaxPooling2D") == 1
    assert count("Add") == 2
    assert all(
        layer.momentum == 0.99 and layer.epsilon == 1e-3
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )
    assert all(
        layer.kernel_size == (5, 5) and layer.padding == "same"
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D)
    )
    # Both residual sums add the stem's output (input_CNN), not the running sum.
    stem_out = model.get_layer("stem_dropout2").output
    for name in ("res1_add", "res2_add"):
        add_inputs = model.get_layer(name).input
        assert any(t is stem_out for t in add_inputs)
    # The second branch reads the first sum.
    assert model.get_layer("res2_bn_in").input is model.get_layer("res1_add").output
    assert model.output_shape == (None, 2)
    assert model.get_layer("output").activation.__name__ == "softmax"
    assert model.count_params() == resnet_expected_params() + len(bns) * DEBIAS_STATE
    assert model.count_params() == 5_578_588


def test_resnet_with_keras3_semantics_has_r_summary_parameter_count():
    model = build_resnet(semantics="keras3")
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(bns) == 14 and all(type(layer) is keras.layers.BatchNormalization for layer in bns)
    assert model.count_params() == resnet_expected_params() == 5_578_574


def test_resnet_is_compiled_like_r():
    model = build_resnet()
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.001)
    assert float(model.optimizer.epsilon) == pytest.approx(1e-7)  # Keras 2.2's K.epsilon()
    assert isinstance(model.loss, Keras22BinaryCrossentropy)
    assert build_resnet(semantics="keras3").loss == "binary_crossentropy"


def test_resnet_trains_through_fit_with_falling_loss(images):
    keras.utils.set_random_seed(2)
    model = build_resnet()
    x, y = images["cnn_x"], images["cnn_y"]
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    assert np.isfinite(result["loss"]) and 0.0 <= result["accuracy"] <= 1.0


# ------------------------------------------------------------------ R-style accuracy


def test_r_style_accuracy_recycles_the_vector_over_the_matrix_columns():
    # R 4.2: pred <- matrix(c(0.2,0.7,0.4,0.5, 0.8,0.3,0.6,0.5), ncol=2)
    #        truth <- matrix(c(1,0,1,0, 1,1,0,1), ncol=2)
    #        mean(round(pred)[,2] == truth)   # 0.625
    # By hand: round(pred)[,2] = (1,0,1,0); recycled to length 8 it is compared
    # with truth's storage (1,0,1,0, 1,1,0,1): 5 of 8 equal.
    pred = np.array([[0.2, 0.8], [0.7, 0.3], [0.4, 0.6], [0.5, 0.5]])
    truth = np.array([[1, 1], [0, 1], [1, 0], [0, 1]])
    assert r_style_accuracy(pred, truth) == 0.625
    # The per-row accuracy of the same numbers differs: the test can tell them apart.
    assert np.mean(np.round(pred)[:, 1] == truth[:, 1]) != 0.625


def test_r_style_accuracy_is_one_half_for_one_hot_truth_whatever_the_model():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=101)
    onehot = np.stack([1 - labels, labels], axis=1)
    perfect = onehot.astype(float) * 0.9 + 0.05
    for pred in (perfect, 1 - perfect, rng.dirichlet([1, 1], size=101), np.full((101, 2), 0.5)):
        assert r_style_accuracy(pred, onehot) == 0.5


def test_r_style_accuracy_nan_prediction_gives_nan():
    assert np.isnan(r_style_accuracy(np.array([[np.nan, np.nan], [0.1, 0.9]]), np.eye(2)))


# ------------------------------------------------------------------ ODE-Net


def dynamics_expected_params(hidden: int, k: int = 3, channels: int = 64) -> int:
    """GroupNorm (gamma, beta) and ConcatConv2D (the time is one more input channel)."""
    gn = lambda c: 2 * c  # noqa: E731
    return (
        gn(channels)
        + conv_params(k, channels + 1, hidden)
        + gn(hidden)
        + conv_params(k, hidden + 1, channels)
        + gn(channels)
    )


def test_odenet_is_the_resnet_with_one_ode_block_for_the_residual_blocks():
    import odelayers

    keras.utils.set_random_seed(0)
    ode = small_odenet(hidden_channels=32)
    res = build_resnet()
    blocks = [layer for layer in ode.layers if isinstance(layer, odelayers.ODEBlock)]
    assert len(blocks) == 1
    assert not any(isinstance(layer, keras.layers.Add) for layer in ode.layers)

    def shared(m):
        return [
            (type(layer).__name__, layer.name)
            for layer in m.layers
            if not layer.name.startswith("res") and layer.name != "ode_block"
        ]

    assert shared(ode) == shared(res)  # stem, top stack, head and their order are identical
    assert blocks[0].input.shape == blocks[0].output.shape == (None, 18, 18, 64)
    # No batch normalisation or dropout inside the dynamics.
    inner = [
        type(layer).__name__ for layer in blocks[0].dynamics._flatten_layers(include_self=False)
    ]
    assert "GroupNormalization" in inner and "BatchNormalization" not in inner
    assert "Dropout" not in inner
    expected = resnet_expected_params() - 2 * resnet_branch_params() + dynamics_expected_params(32)
    bns = sum(isinstance(layer, keras.layers.BatchNormalization) for layer in ode.layers)
    assert bns == 8
    assert ode.count_params() == expected + bns * DEBIAS_STATE == 4_795_094
    assert ode.count_params() < res.count_params()
    keras3 = small_odenet(hidden_channels=32, semantics="keras3")
    assert keras3.count_params() == expected == 4_795_086


def eager(model):
    """Run fit/evaluate/predict eagerly: skips minutes of graph tracing on these tiny batches.

    The compiled path is exercised by the command-line test and by odelayers' own tests.
    """
    model.run_eagerly = True
    return model


def test_odenet_trains_records_nfe_and_round_trips_through_keras_file(images, tmp_path):
    keras.utils.set_random_seed(3)
    model = eager(small_odenet(hidden_channels=16))
    x, y = images["cnn_x"][:16], images["cnn_y"][:16]
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    # rk4 with step 0.5 over [0, 1]: 2 steps x 4 evaluations.
    assert history["nfe"] == [8, 8, 8]
    assert model.get_layer("ode_block").nfe == 8
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    assert np.isfinite(result["loss"])

    path = tmp_path / "odenet.keras"
    model.save(path)  # trained weights, moved batch-norm statistics, optimizer state
    loaded = eager(keras.saving.load_model(path))
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    dynamics = loaded.get_layer("ode_block").dynamics
    assert type(dynamics).__name__ == "ResidualBranchDynamics"
    assert dynamics.get_config()["hidden_channels"] == 16


def test_odenet_default_solver_is_dopri5_adjoint_and_rk4_backprop_is_one_option_away(images):
    keras.utils.set_random_seed(4)
    model = eager(build_odenet(hidden_channels=16))  # the report's: adaptive, adjoint
    config = model.get_layer("ode_block").get_config()
    assert (config["method"], config["gradient"]) == ("dopri5", "adjoint")
    assert (config["rtol"], config["atol"]) == (1e-3, 1e-3)
    x, y = images["cnn_x"][:8], images["cnn_y"][:8]
    history = model.fit(x, y, epochs=1, batch_size=8, verbose=0).history
    assert np.isfinite(history["loss"][0])
    assert history["nfe"][0] >= 7  # at least one Dormand-Prince step: 7 stages, the first shared

    keras.utils.set_random_seed(4)
    fixed = eager(
        build_odenet(hidden_channels=16, method="rk4", step_size=0.5, gradient="backprop")
    )
    history = fixed.fit(x, y, epochs=1, batch_size=8, verbose=0).history
    assert history["nfe"] == [8]  # 2 steps x 4 stages: a fixed cost per batch


# The cost of a training step, ODE-Net against residual CNN, is measured by
# benchmarks/bench_train_step.py (run by hand), not asserted in a timed test.
