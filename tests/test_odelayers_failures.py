"""Solver failures: each message carries the marker, its numbers in place, and advice.

Every failure is checked eagerly (``ODESolverError``) and inside
``tf.function`` (``InvalidArgumentError``), and the time it reports is parsed
back from the text and compared with a time known in advance.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import re  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import odelayers  # noqa: E402
from odelayers.errors import ODESolverError  # noqa: E402

F64 = tf.float64
NUMBER = r"(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?|-?nan|-?inf)"
MODES = ["eager", "tf.function"]


def failure_text(mode, run, y0):
    """The one-line message of the failure ``run(y0)`` raises in ``mode``."""
    if mode == "eager":
        with pytest.raises(ODESolverError) as caught:
            run(y0)
        text = str(caught.value)
    else:
        with pytest.raises(tf.errors.InvalidArgumentError) as caught:
            tf.function(run, autograph=False)(y0)
        message = caught.value.message
        text = message[message.index("odelayers:") :].splitlines()[0]
    assert text.startswith("odelayers:")
    assert 't ="' not in text and "] [" not in text
    assert "What to change" in text
    return text


def number_after(label, text):
    match = re.search(re.escape(label) + " " + NUMBER, text)
    assert match, f"no number after {label!r} in: {text}"
    return float(match.group(1))


def nan_after_half(t, y):
    """-y until t = 0.5, NaN after."""
    return tf.where(t > 0.5, tf.fill(tf.shape(y), tf.constant(float("nan"), y.dtype)), -y)


@pytest.mark.parametrize("mode", MODES)
def test_max_num_steps_reports_time_and_step_size(mode):
    def run(y0):
        return odelayers.odeint(lambda t, y: tf.sin(20.0 * y), y0, [0.0, 10.0], max_num_steps=5)

    text = failure_text(mode, run, tf.ones([1], F64))
    assert "max_num_steps=5 steps" in text and "Raise max_num_steps" in text
    t = number_after("reached t =", text)
    assert 0.0 < t < 10.0
    assert number_after("with step size", text) > 0.0


@pytest.mark.parametrize("mode", MODES)
def test_step_size_underflow_reports_where(mode):
    # dy/dt = y^2, y(0) = 1 blows up at t = 1.
    def run(y0):
        return odelayers.odeint(lambda t, y: y * y, y0, [0.0, 2.0])

    text = failure_text(mode, run, tf.ones([1]))
    assert "step size underflowed" in text and "loosen rtol/atol" in text
    assert number_after("at t =", text) == pytest.approx(1.0, abs=1e-3)
    assert 0.0 < number_after("with step size", text) < 1e-5
    steps = int(number_after("after", text))
    assert 0 < steps < 4096 and "max_num_steps=4096" in text


@pytest.mark.parametrize("mode", MODES)
def test_dopri5_nonfinite_dynamics_reports_the_time(mode):
    def run(y0):
        return odelayers.odeint(nan_after_half, y0, [0.0, 1.0])

    text = failure_text(mode, run, tf.ones([2]))
    assert "return NaN/Inf" in text
    assert number_after("at t =", text) == pytest.approx(0.5, abs=1e-3)


@pytest.mark.parametrize("mode", MODES)
def test_dopri5_nonfinite_start_reports_the_time(mode):
    def run(y0):
        return odelayers.odeint(lambda t, y: tf.math.log(y - 2.0), y0, [0.25, 1.0])

    text = failure_text(mode, run, tf.ones([1], F64))
    assert "returned NaN or Inf" in text
    assert number_after("at t =", text) == 0.25


@pytest.mark.parametrize("gradient", ["adjoint", "backprop"])
@pytest.mark.parametrize("method", ["euler", "midpoint", "rk4"])
@pytest.mark.parametrize("mode", MODES)
def test_fixed_step_nonfinite_state_reports_the_step(mode, method, gradient):
    step = 0.125

    def run(y0):
        return odelayers.odeint(
            nan_after_half, y0, [0.0, 0.25, 1.0], method=method, step_size=step, gradient=gradient
        )

    text = failure_text(mode, run, tf.ones([3]))
    assert f"odelayers: {method}: the ODE state became NaN or Inf" in text
    t_from = number_after("in the step from t =", text)
    t_to = number_after(" to t =", text)
    assert 0.5 <= t_from <= 0.5 + step
    assert t_to == pytest.approx(t_from + step)
    assert number_after("step size", text) == step
    assert "smaller step_size" in text


def test_fixed_step_finite_solve_is_unchanged():
    ys = odelayers.odeint(lambda t, y: -y, tf.ones([2], F64), [0.0, 1.0], method="rk4", num_steps=8)
    assert float(ys[-1][0]) == pytest.approx(0.36788, abs=1e-4)


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
def test_16_bit_states_refuse_tolerances_they_cannot_resolve(dtype):
    floor = {tf.float16: 1e-2, tf.bfloat16: 1e-1}[dtype]
    y0 = tf.ones([2], dtype)
    with pytest.raises(ValueError, match=rf"rtol=0.001 .*{dtype.name}.*rtol >= {floor:g}.*float32"):
        odelayers.odeint(lambda t, y: -y, y0, [0.0, 1.0])

    @tf.function(autograph=False)
    def run(y0):
        return odelayers.odeint(lambda t, y: -y, y0, [0.0, 1.0])

    with pytest.raises(ValueError, match=rf"rtol >= {floor:g}"):
        run(y0)
    with pytest.raises(ValueError, match=f"atol=1e-50 rounds to zero in {dtype.name}"):
        odelayers.odeint(lambda t, y: -y, y0, [0.0, 1.0], rtol=floor, atol=1e-50)
    ys = odelayers.odeint(lambda t, y: -y, y0, [0.0, 1.0], rtol=floor)
    assert float(ys[-1][0]) == pytest.approx(0.3679, abs=5 * floor)
    # Fixed steps have no tolerances to refuse.
    odelayers.odeint(lambda t, y: -y, y0, [0.0, 1.0], method="rk4", num_steps=4)


def test_solver_message_reads_a_graph_errors_text_back():
    from odelayers.errors import solver_message

    text = (
        "Graph execution error:\n\nassertion failed: [odelayers: rk4 gave up at t = 0.5] "
        "[use method=\\'dopri5\\' or \\\"bdf\\\"]\n\t [[{{node Assert}}]]"
    )
    assert (
        solver_message(text) == "odelayers: rk4 gave up at t = 0.5 use method='dopri5' or \"bdf\""
    )
    assert solver_message("assertion failed: [x > 0]") is None


# ---- NaN/Inf states the error estimate misses, and non-finite starts --------


def big_rate(value):
    return lambda t, y: tf.fill(tf.shape(y), tf.constant(value, y.dtype))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "method, y0, rate",
    [
        # dopri5's interpolation between steps overflows (the state does not)
        ("dopri5", tf.constant([3e37]), 1.0),
        ("dopri5", tf.constant([1e307], F64), 1.0),
        ("bdf", tf.constant([3e38]), 1e38),  # the state itself overflows
    ],
)
def test_adaptive_overflow_reports_the_interval_and_step(mode, method, y0, rate):
    def run(y0):
        return odelayers.odeint(big_rate(rate), y0, [0.0, 1.0], method=method)

    text = failure_text(mode, run, y0)
    assert f"{method}: the solution became NaN or Inf between t = 0 and t = 1" in text
    assert number_after("(step size", text) > 0.0
    assert f"the largest {y0.dtype.name}" in text and "use float64" in text


@pytest.mark.parametrize("mode", MODES)
def test_overflow_names_the_first_bad_output_interval(mode):
    # y = 1e36 (1 + t) in float32 overflows dopri5's interpolation near t = 10.
    def run(y0):
        return odelayers.odeint(big_rate(1e36), y0, [0.0, 2.0, 40.0], max_step=0.5)

    text = failure_text(mode, run, tf.constant([1e36]))
    assert number_after("between t =", text) == 2.0 and number_after("and t =", text) == 40.0


def test_odeblock_on_a_huge_input_raises():
    block = odelayers.ODEBlock(keras.layers.Dense(3, activation="tanh"), 0.0, 1.0)
    with pytest.raises(ODESolverError, match="became NaN or Inf between t = 0 and t = 1"):
        block(tf.fill([2, 3], 1e38))
    with pytest.raises(tf.errors.InvalidArgumentError, match="became NaN or Inf"):
        tf.function(block, autograph=False)(tf.fill([2, 3], 1e38))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "method, bad", [("dopri5", float("nan")), ("bdf", float("inf")), ("rk4", float("nan"))]
)
def test_nonfinite_start_is_refused_before_any_step(mode, method, bad):
    calls = []

    def run(y0):
        def decay(t, y):
            calls.append(t)
            return -y

        step = {"step_size": 0.25} if method == "rk4" else {}
        return odelayers.odeint(decay, y0, [0.5, 1.0], method=method, **step)

    text = failure_text(mode, run, tf.constant([1.0, bad]))
    assert "the initial state contains NaN or Inf (at t = 0.5)" in text
    assert "max_num_steps" not in text
    if mode == "eager":
        assert not calls


def test_nonfinite_traced_times_are_refused():
    @tf.function(autograph=False, input_signature=[tf.TensorSpec([3])])
    def run(t):
        return odelayers.odeint(lambda t, y: -y, tf.ones([1]), t)

    for t in ([0.0, float("inf"), 2.0], [0.0, 1.0, float("nan")]):
        with pytest.raises(tf.errors.InvalidArgumentError, match="t must be finite and strictly"):
            run(tf.constant(t))
    assert run(tf.constant([0.0, 1.0, 2.0])).shape == (3, 1)


@pytest.mark.parametrize("mode", MODES)
def test_fixed_step_nonfinite_adjoint_start_names_a_real_step(mode):
    # A NaN loss makes the backward adjoint solve start from NaN.
    step = 0.125

    def run(y0):
        with tf.GradientTape() as tape:
            tape.watch(y0)
            ys = odelayers.odeint(lambda t, y: -y, y0, [0.0, 1.0], method="rk4", step_size=step)
            loss = tf.reduce_sum(ys[-1]) * float("nan")
        return tape.gradient(loss, y0)

    text = failure_text(mode, run, tf.ones([2]))
    t_from, t_to = number_after("from t =", text), number_after(" to t =", text)
    assert t_from == -1.0 and t_to == pytest.approx(t_from + step)


@pytest.mark.parametrize("mode", MODES)
def test_stiff_dopri5_gives_up_with_the_same_message_in_both_modes(mode):
    a = tf.constant([[-1.0, 0.0], [1000.0, -1000.0]], F64)

    def run(y0):
        return odelayers.odeint(
            lambda t, y: tf.linalg.matvec(a, y), y0, [0.0, 5.0], max_num_steps=50
        )

    text = failure_text(mode, run, tf.constant([1.0, 0.0], F64))
    assert (
        "dopri5 gave up after max_num_steps=50 steps" in text and "if the problem is stiff" in text
    )
    assert 0.0 < number_after("reached t =", text) < 5.0


def test_large_finite_solves_are_unchanged():
    # A rotation of radius 3e36 in float32, just below where dopri5's interpolation overflows.
    from scipy.integrate import solve_ivp

    radius, t = 3e36, np.array([0.0, 0.5, 2.0])
    reference = solve_ivp(
        lambda t, y: [y[1], -y[0]], (0.0, 2.0), [radius, 0.0], t_eval=t, rtol=1e-10, atol=1e24
    ).y.T
    ys = odelayers.odeint(
        lambda t, y: tf.stack([y[1], -y[0]]),
        tf.constant([radius, 0.0]),
        t.astype(np.float32),
        rtol=1e-5,
        atol=radius * 1e-7,
    )
    np.testing.assert_allclose(ys.numpy() / radius, reference / radius, atol=1e-4)


def test_under_xla_a_solve_that_cannot_finish_ends_in_nan_not_a_hang():
    """XLA compiles assertions to nothing; the step bound still ends dopri5's loop."""
    import time

    import odelayers

    def stiff(t, y):  # van der Pol, mu = 1e4: far more steps than allowed below
        return tf.stack([y[1], 1e4 * (1 - y[0] ** 2) * y[1] - y[0]])

    @tf.function(jit_compile=True)
    def solve(y0):
        return odelayers.odeint(stiff, y0, [0.0, 3000.0], method="dopri5", max_num_steps=300)

    began = time.perf_counter()
    y = solve(tf.constant([2.0, 0.0]))
    assert time.perf_counter() - began < 60
    assert np.isnan(y[-1].numpy()).all() and np.isfinite(y[0].numpy()).all()
