"""ODEBlock(trainable_t1=True): the learned end time, its gradient, saving and logging.

The reference is a linear ODE dh/dt = h K (row-vector states, a bias-free
Dense layer), whose solution h(T) = h0 expm(K T) gives the exact derivative
dL/dt1 = dL/dh(t1) . f(h(t1)) = w . (h0 expm(K T) K) for L = sum(w * h(t1)).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.linalg  # noqa: E402
import tensorflow as tf  # noqa: E402

import odelayers  # noqa: E402

T0, T1 = 0.5, 1.7
RNG = np.random.default_rng(0)
K = 0.5 * RNG.normal(size=(3, 3))
H0 = RNG.normal(size=(2, 3))
W = RNG.normal(size=(2, 3))

TIGHT = dict(rtol=1e-10, atol=1e-10)
MODES = {
    "dopri5-adjoint": dict(method="dopri5", gradient="adjoint", **TIGHT),
    "dopri5-backprop": dict(method="dopri5", gradient="backprop", **TIGHT),
    "rk4-backprop": dict(method="rk4", num_steps=6, gradient="backprop"),
    "rk4-adjoint": dict(method="rk4", num_steps=6, gradient="adjoint"),
}


def linear_block(**kwargs):
    """A float64 block over [T0, T1] with dynamics h -> h K and a learned t1."""
    dynamics = keras.layers.Dense(3, use_bias=False, dtype="float64")
    block = odelayers.ODEBlock(dynamics, t0=T0, t1=T1, trainable_t1=True, dtype="float64", **kwargs)
    block.build((None, 3))
    dynamics.kernel.assign(K)
    return block


def t1_weight(block):
    (weight,) = [w for w in block.trainable_weights if "t1_raw" in w.path]
    return weight


def set_t1(block, t1):
    """Set the learned end time to ``t1`` (through softplus's inverse)."""
    t1_weight(block).assign(np.log(np.expm1(t1 - T0)))


def loss_and_dt1(block):
    """``L = sum(W * block(H0))`` and ``dL/dt1`` (the raw weight's gradient over softplus')."""
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(W * block(tf.constant(H0)))
    grad_raw = float(tape.gradient(loss, t1_weight(block)))
    raw = float(t1_weight(block).numpy())
    return float(loss), grad_raw / (1.0 / (1.0 + np.exp(-raw)))  # d softplus = sigmoid


def rk4_map(span, steps):
    """The matrix that ``steps`` rk4 steps over ``span`` apply to a row vector (h -> h K)."""
    x = K * span / steps
    one_step = np.eye(3) + x + x @ x / 2 + x @ x @ x / 6 + x @ x @ x @ x / 24
    return np.linalg.matrix_power(one_step, steps)


@pytest.mark.parametrize("mode", ["dopri5-adjoint", "dopri5-backprop"])
def test_dt1_equals_the_exact_derivative_of_the_ode_solution(mode):
    block = linear_block(**MODES[mode])
    loss, dt1 = loss_and_dt1(block)
    span = T1 - T0
    exact_loss = np.sum(W * (H0 @ scipy.linalg.expm(K * span)))
    exact_dt1 = np.sum(W * (H0 @ scipy.linalg.expm(K * span) @ K))
    assert loss == pytest.approx(exact_loss, rel=1e-8)
    assert dt1 == pytest.approx(exact_dt1, rel=1e-7)
    assert block.current_t1 == pytest.approx(T1, rel=1e-12)


@pytest.mark.parametrize("mode", ["rk4-backprop", "rk4-adjoint"])
def test_fixed_step_dt1_is_the_derivative_of_the_rk4_map(mode):
    # Six rk4 steps whatever t1 is: the block computes h0 P(K T / 6)^6, whose
    # T-derivative (central differences of a polynomial, exact to round-off)
    # differs from the ODE's by the method's error, here ~1e-4: the test tells
    # the two apart.
    block = linear_block(**MODES[mode])
    span, eps = T1 - T0, 1e-6
    loss, dt1 = loss_and_dt1(block)
    d_map = (rk4_map(span + eps, 6) - rk4_map(span - eps, 6)) / (2 * eps)
    assert loss == pytest.approx(np.sum(W * (H0 @ rk4_map(span, 6))), rel=1e-12)
    # The backprop gradient is that of the map; the adjoint's backward rk4 solve
    # is another discretisation of the same integral, accurate to O(step**4).
    rel = 1e-8 if mode == "rk4-backprop" else 1e-4
    assert dt1 == pytest.approx(np.sum(W * (H0 @ d_map)), rel=rel)
    assert block.nfe == 6 * 4


@pytest.mark.parametrize("mode", ["dopri5-adjoint", "rk4-backprop"])
def test_dt1_matches_central_finite_differences(mode):
    block = linear_block(**MODES[mode])
    t1, eps = 1.3, 1e-5
    set_t1(block, t1 + eps)
    upper, _ = loss_and_dt1(block)
    set_t1(block, t1 - eps)
    lower, _ = loss_and_dt1(block)
    set_t1(block, t1)
    _, dt1 = loss_and_dt1(block)
    assert dt1 == pytest.approx((upper - lower) / (2 * eps), rel=1e-6)


def test_fixed_steps_keep_their_count_and_scale_with_the_interval():
    # step_size 0.25 on [0.5, 1.5] is 4 steps; with t1 learned at 3.5 it is
    # still 4 steps, of 0.75 each, which is what a fixed-t1 block over
    # [0.5, 3.5] with step_size 0.75 computes.
    dynamics = keras.layers.Dense(3, use_bias=False, dtype="float64")
    block = odelayers.ODEBlock(
        dynamics, t0=T0, t1=1.5, method="rk4", step_size=0.25, trainable_t1=True, dtype="float64"
    )
    block.build((None, 3))
    dynamics.kernel.assign(K)
    set_t1(block, 3.5)
    fixed = odelayers.ODEBlock(
        dynamics, t0=T0, t1=3.5, method="rk4", step_size=0.75, dtype="float64"
    )
    np.testing.assert_allclose(block(H0), fixed(H0), rtol=1e-12)
    assert block.nfe == fixed.nfe == 16
    assert block.current_t1 == pytest.approx(3.5)


def test_t1_stays_above_t0_for_any_weight():
    block = linear_block(method="rk4", num_steps=2)
    # softplus(-30) = 9e-14: a tiny interval, yet above t0 (float64 resolves it).
    t1_weight(block).assign(-30.0)
    assert block.current_t1 > T0
    np.testing.assert_allclose(block(H0), H0, rtol=0, atol=1e-12)


def test_fit_learns_the_end_time_of_known_dynamics():
    # dh/dt = -h, frozen; targets h0 exp(-2): the only free weight, t1, must
    # travel from 1 to 2 (t0 = 0), and the logs show it getting there.
    keras.utils.set_random_seed(0)
    dynamics = keras.layers.Dense(2, use_bias=False, kernel_initializer="zeros", trainable=False)
    block = odelayers.ODEBlock(dynamics, t0=0.0, t1=1.0, trainable_t1=True, rtol=1e-6, atol=1e-8)
    model = keras.Sequential([keras.Input((2,)), block])
    dynamics.kernel.assign(-np.eye(2))
    x = np.random.default_rng(1).normal(size=(64, 2)).astype("float32")
    model.compile(keras.optimizers.Adam(0.05), "mse")
    history = model.fit(x, x * np.exp(-2.0), batch_size=64, epochs=150, verbose=0)
    assert block.current_t1 == pytest.approx(2.0, abs=1e-2)
    logged = history.history["t1"]
    assert logged[0] == pytest.approx(1.0, abs=1e-6)
    # The logged value is the t1 of the epoch's (only) forward pass, before its update.
    assert logged[-1] == pytest.approx(block.current_t1, abs=2e-3)
    assert [w.path for w in model.trainable_weights] == [t1_weight(block).path]


def test_saved_model_keeps_the_learned_t1(tmp_path):
    keras.utils.set_random_seed(0)
    block = odelayers.ODEBlock(
        odelayers.ConcatDense(3), t0=0.0, t1=1.0, trainable_t1=True, t1_metric_name="t1_block"
    )
    model = keras.Sequential([keras.Input((3,)), block, keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.1), "mse")
    x = np.random.default_rng(2).normal(size=(32, 3)).astype("float32")
    history = model.fit(x, x[:, :1] * 3.0, epochs=3, verbose=0)
    assert "t1_block" in history.history
    assert block.current_t1 != pytest.approx(1.0, abs=1e-3)  # it moved
    path = tmp_path / "learned_t1.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    loaded_block = loaded.layers[0]
    assert loaded_block.trainable_t1 and loaded_block.t1 == 1.0  # the config keeps the start
    assert loaded_block.current_t1 == pytest.approx(block.current_t1, rel=1e-7)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_config_round_trip_and_fixed_t1_blocks_are_unchanged():
    block = odelayers.ODEBlock(odelayers.ConcatDense(2), t1=2.0, trainable_t1=True)
    config = block.get_config()
    assert config["trainable_t1"] is True and config["t1"] == 2.0
    assert odelayers.ODEBlock.from_config(config).trainable_t1
    fixed = odelayers.ODEBlock(odelayers.ConcatDense(2), t1=2.0)
    fixed.build((None, 2))
    assert fixed.get_config()["trainable_t1"] is False
    assert fixed.current_t1 == 2.0 and not fixed.trainable_weights[0].path.endswith("t1_raw")
    assert "t1" not in [m.name for m in fixed.metrics]


def test_t_eval_with_a_learned_t1_is_refused():
    with pytest.raises(ValueError, match="trainable_t1=True cannot be combined with t_eval"):
        odelayers.ODEBlock(odelayers.ConcatDense(2), t_eval=[0.5, 1.0], trainable_t1=True)
    with pytest.raises(TypeError, match="trainable_t1 must be True or False"):
        odelayers.ODEBlock(odelayers.ConcatDense(2), trainable_t1="yes")
