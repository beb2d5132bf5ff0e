"""``odeint_event``: event times and states, and their gradients by the implicit function rule.

References: closed forms of a falling ball's impact and of an exponential decay's
first passage below a threshold.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import odelayers  # noqa: E402

F64 = tf.float64
TIGHT = {"rtol": 1e-10, "atol": 1e-12}


# Tracing the search, its secant loop and the gradients takes ~20 s.
COMPILED = [False, pytest.param(True, marks=pytest.mark.slow)]


@pytest.mark.parametrize("compiled", COMPILED, ids=["eager", "tf.function"])
@pytest.mark.parametrize("gradient", ["adjoint", "backprop"])
def test_falling_ball_impact_time_velocity_and_gradients(gradient, compiled):
    # h' = v, v' = -g from (h0, v0): impact at T = (v0 + S) / g, S = sqrt(v0^2 + 2 g h0),
    # with velocity -S.
    g = tf.Variable(9.81, dtype=F64)
    h0, v0 = tf.constant(10.0, F64), tf.constant(2.0, F64)

    @tf.autograph.experimental.do_not_convert
    def run():
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([h0, v0])
            t_event, y_event = odelayers.odeint_event(
                lambda t, y: tf.stack([y[1], -g]),
                tf.stack([h0, v0]),
                0.0,
                lambda t, y: y[0],
                t_max=5.0,
                gradient=gradient,
                max_step=0.05,  # a quadratic: dopri5 would take few, huge steps
                **TIGHT,
            )
            v_event = y_event[1]
        return (
            t_event,
            y_event,
            tape.gradient(t_event, [g, h0, v0]),
            tape.gradient(v_event, [g, h0, v0]),
        )

    t_event, y_event, d_time, d_velocity = (tf.function(run) if compiled else run)()
    G, H, V = 9.81, 10.0, 2.0
    S = np.sqrt(V**2 + 2 * G * H)
    assert float(t_event) == pytest.approx((V + S) / G, rel=1e-9)
    np.testing.assert_allclose(y_event.numpy(), [0.0, -S], atol=1e-8)
    exact_time = [-(V + S) / G**2 + H / (G * S), 1 / S, (1 + V / S) / G]
    np.testing.assert_allclose([float(d) for d in d_time], exact_time, rtol=1e-7)
    np.testing.assert_allclose([float(d) for d in d_velocity], [-H / S, -G / S, -V / S], rtol=1e-7)


@pytest.mark.parametrize("compiled", COMPILED, ids=["eager", "tf.function"])
def test_first_passage_time_and_state_gradients(compiled):
    # y' = -k y from y(t0) = y0 until y = c: T = t0 + log(y0 / c) / k, y(T) = c.
    k, c = tf.Variable(0.8, dtype=F64), tf.Variable(0.3, dtype=F64)
    y0, t0 = tf.constant([2.0], F64), tf.constant(0.5, F64)

    def run():
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([y0, t0])
            t_event, y_event = odelayers.odeint_event(
                lambda t, y: -k * y, y0, t0, lambda t, y: y[0] - c, t_max=10.0, **TIGHT
            )
        sources = [k, c, y0, t0]
        return t_event, y_event, tape.gradient(t_event, sources), tape.gradient(y_event, sources)

    t_event, y_event, d_time, d_state = (tf.function(run) if compiled else run)()
    log_ratio = np.log(2.0 / 0.3)
    assert float(t_event) == pytest.approx(0.5 + log_ratio / 0.8, rel=1e-9)
    assert float(y_event[0]) == pytest.approx(0.3, rel=1e-9)
    exact = [-log_ratio / 0.8**2, -1 / (0.3 * 0.8), 1 / (2.0 * 0.8), 1.0]
    np.testing.assert_allclose([float(np.sum(d)) for d in d_time], exact, rtol=1e-7)
    # The state at the event is the threshold whatever k, y0 and t0: only c moves it.
    np.testing.assert_allclose([float(np.sum(d)) for d in d_state], [0, 1, 0, 0], atol=1e-7)


def test_no_sign_change_before_t_max_is_an_error():
    with pytest.raises(odelayers.errors.ODESolverError, match="found no sign change of event_fn"):
        odelayers.odeint_event(
            lambda t, y: -y, tf.ones([1], F64), 0.0, lambda t, y: y[0] + 1.0, t_max=2.0
        )
