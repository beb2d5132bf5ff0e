"""Nested states (tuples, lists, dicts of tensors of any shapes) and the checks of y0 and t.

References: closed forms of decoupled exponentials and of the harmonic oscillator
(TFP's ``test_forward_tuple`` / ``test_forward_multilevel``, diffrax's pytree test).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402

import odelayers  # noqa: E402

F64 = tf.float64
MODES = [
    ("dopri5", "adjoint"),
    ("dopri5", "backprop"),
    ("bdf", "adjoint"),
    ("rk4", "adjoint"),
    ("rk4", "backprop"),
    ("euler", "adjoint"),
    ("midpoint", "backprop"),
]


def _settings(method):
    if method in ("dopri5", "bdf"):
        return {"rtol": 1e-9, "atol": 1e-12}
    return {"num_steps": {"euler": 200, "midpoint": 200}.get(method, 50)}


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "tf.function"])
@pytest.mark.parametrize("method, gradient", MODES)
def test_dict_of_differently_shaped_states_values_and_gradients(method, gradient, compiled):
    # a' = -w a (shape [2, 3]), b.c' = c (shape [0]), b.d' = w d (scalar), from t = 0 to 1.
    w = tf.Variable(0.5, dtype=F64)
    y0 = {"a": tf.ones([2, 3], F64), "b": {"c": tf.zeros([0], F64), "d": tf.constant(2.0, F64)}}

    def run():
        with tf.GradientTape() as tape:
            ys = odelayers.odeint(
                lambda t, y: {"a": -w * y["a"], "b": {"c": y["b"]["c"], "d": w * y["b"]["d"]}},
                y0,
                [0.0, 0.5, 1.0],
                method,
                gradient=gradient,
                **_settings(method),
            )
            loss = tf.reduce_sum(ys["a"][-1]) + ys["b"]["d"][-1]
        return ys, tape.gradient(loss, w)

    ys, grad = (tf.function(run) if compiled else run)()
    assert ys["a"].shape == [3, 2, 3] and ys["b"]["c"].shape == [3, 0] and ys["b"]["d"].shape == [3]
    tol = {"euler": 3e-3, "midpoint": 1e-5}.get(method, 1e-7)
    times = np.array([0.0, 0.5, 1.0])
    np.testing.assert_allclose(ys["a"].numpy()[:, 0, 0], np.exp(-0.5 * times), rtol=tol)
    np.testing.assert_allclose(ys["b"]["d"].numpy(), 2.0 * np.exp(0.5 * times), rtol=tol)
    # d/dw [6 exp(-w) + 2 exp(w)] at w = 0.5
    exact = -6.0 * np.exp(-0.5) + 2.0 * np.exp(0.5)
    assert float(grad) == pytest.approx(exact, rel=10 * tol)


def _oscillator(omega, x0, v0, t):
    x = x0 * np.cos(omega * t) + v0 / omega * np.sin(omega * t)
    dx_domega = -x0 * t * np.sin(omega * t) + v0 * (
        t * np.cos(omega * t) / omega - np.sin(omega * t) / omega**2
    )
    return x, dx_domega


@pytest.mark.parametrize("gradient", ["adjoint", "backprop"])
def test_tuple_of_equal_shapes_stays_a_tuple_and_is_coupled(gradient):
    # (x, v)' = (v, -omega^2 x): a tuple of two [2]-vectors, never stacked into one tensor.
    omega = tf.Variable(1.3, dtype=F64)
    x0, v0 = np.array([1.0, -0.5]), np.array([0.2, 0.7])
    state = (tf.constant(x0, F64), tf.constant(v0, F64))
    with tf.GradientTape() as tape:
        xs, vs = odelayers.odeint(
            lambda t, y: (y[1], -(omega**2) * y[0]),
            state,
            [0.0, 2.0],
            gradient=gradient,
            rtol=1e-10,
            atol=1e-12,
        )
        loss = tf.reduce_sum(xs[-1])
    x, dx = _oscillator(1.3, x0, v0, 2.0)
    assert xs.shape == vs.shape == [2, 2]
    np.testing.assert_allclose(xs.numpy()[-1], x, rtol=1e-7)
    assert float(tape.gradient(loss, omega)) == pytest.approx(dx.sum(), rel=1e-6)


def test_list_of_tensors_is_a_nest_and_a_list_of_numbers_is_a_vector():
    ys = odelayers.odeint(
        lambda t, y: [-y[0], -2 * y[1]], [tf.ones([1]), tf.ones([2, 2])], [0, 1.0], rtol=1e-6
    )
    assert isinstance(ys, list) and ys[0].shape == [2, 1] and ys[1].shape == [2, 2, 2]
    np.testing.assert_allclose(ys[1].numpy()[-1], np.exp(-2.0), rtol=1e-3)
    assert odelayers.odeint(lambda t, y: -y, [1.0, 2.0], [0.0, 1.0]).shape == [2, 2]


def test_ragged_numbers_and_non_tensor_times_are_refused_in_one_line():
    with pytest.raises(TypeError, match=r"tuple, list or dict of tensors \(a nested state\)"):
        odelayers.odeint(lambda t, y: -y, [[1.0, 2.0], [3.0]], [0.0, 1.0])
    with pytest.raises(TypeError, match=r"t must be the output times.*got ChosenBySolver"):
        odelayers.odeint(lambda t, y: -y, tf.ones([2]), tfp.math.ode.ChosenBySolver(1.0))
    with pytest.raises(TypeError, match=r"t must be the output times"):
        odelayers.odeint(lambda t, y: -y, tf.ones([2]), (tf.ones([2]), 1.0))
    with pytest.raises(TypeError, match="must share one dtype"):
        odelayers.odeint(lambda t, y: y, (tf.ones([2]), tf.ones([2], F64)), [0.0, 1.0])
    with pytest.raises(ValueError, match="dy/dt must have the state's structure"):
        odelayers.odeint(lambda t, y: y[0], (tf.ones([2]), tf.ones([3])), [0.0, 1.0])
    with pytest.raises(ValueError, match=r"shape \(3,\) for a state of shape \(2,\)"):
        odelayers.odeint(lambda t, y: (y[1], y[1]), (tf.ones([2]), tf.ones([3])), [0.0, 1.0])
