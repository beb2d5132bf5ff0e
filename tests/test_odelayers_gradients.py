"""Gradients of odelayers solves w.r.t. the initial state, the dynamics' weights and the times.

References: central finite differences of the forward solve (float64), and
plain backpropagation through a fine fixed-step RK4 solve.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import odelayers  # noqa: E402

F64 = tf.float64


class MLPDynamics(keras.layers.Layer):
    """dh/dt = W2 tanh(W1 [t, h] + b1) + b2, a time-dependent MLP."""

    def __init__(self, width=8, **kwargs):
        super().__init__(**kwargs)
        self.hidden = odelayers.ConcatDense(width, activation="tanh", dtype=self.dtype_policy)
        self.out = odelayers.ConcatDense(2, dtype=self.dtype_policy)

    def call(self, h, t):
        return self.out(self.hidden(h, t=t), t=t)


@pytest.fixture(scope="module")
def problem():
    keras.utils.set_random_seed(3)
    dynamics = MLPDynamics(dtype="float64")
    y0 = tf.constant([[0.5, -1.0], [1.5, 0.3]], F64)
    dynamics(y0, t=0.0)  # build
    weights_out = tf.constant([[1.0, -2.0], [0.5, 3.0]], F64)
    rng = np.random.default_rng(0)
    direction_y0 = tf.constant(rng.normal(size=(2, 2)), F64)
    direction_w = [tf.constant(rng.normal(size=v.shape), F64) for v in dynamics.trainable_variables]
    return dynamics, y0, weights_out, direction_y0, direction_w


def loss_of(solution, weights_out):
    return tf.reduce_sum(weights_out * solution[-1] ** 2)


def gradients(dynamics, y0, weights_out, **solver):
    with tf.GradientTape() as tape:
        tape.watch(y0)
        ys = odelayers.odeint(lambda t, h: dynamics(h, t=t), y0, [0.0, 1.0], **solver)
        loss = loss_of(ys, weights_out)
    grads = tape.gradient(loss, [y0] + dynamics.trainable_variables)
    assert all(g is not None for g in grads), "a gradient did not reach its variable"
    return grads


def directional(grads, direction_y0, direction_w):
    """<grad, v> for the y0 direction and for the joint weight direction."""
    along_y0 = float(tf.reduce_sum(grads[0] * direction_y0))
    along_w = float(sum(tf.reduce_sum(g * d) for g, d in zip(grads[1:], direction_w)))
    return along_y0, along_w


@pytest.fixture(scope="module")
def finite_differences(problem):
    """Central differences of the loss along the two directions (tight dopri5)."""
    dynamics, y0, weights_out, direction_y0, direction_w = problem

    @tf.function
    def loss(y0):
        ys = odelayers.odeint(lambda t, h: dynamics(h, t=t), y0, [0.0, 1.0], rtol=1e-10, atol=1e-12)
        return loss_of(ys, weights_out)

    eps = 1e-5
    along_y0 = (float(loss(y0 + eps * direction_y0)) - float(loss(y0 - eps * direction_y0))) / (
        2 * eps
    )
    originals = [v.numpy() for v in dynamics.trainable_variables]

    def shifted(sign):
        for v, value, d in zip(dynamics.trainable_variables, originals, direction_w):
            v.assign(value + sign * eps * d.numpy())
        return float(loss(y0))

    try:
        along_w = (shifted(+1) - shifted(-1)) / (2 * eps)
    finally:
        for v, value in zip(dynamics.trainable_variables, originals):
            v.assign(value)
    return along_y0, along_w


@pytest.fixture(scope="module")
def adjoint_grads(problem):
    dynamics, y0, weights_out, _, _ = problem
    return gradients(dynamics, y0, weights_out, rtol=1e-8, atol=1e-10)


@pytest.fixture(scope="module")
def rk4_backprop_grads(problem):
    """Backpropagation through 32 RK4 steps: the discretise-then-differentiate reference."""
    dynamics, y0, weights_out, _, _ = problem
    return gradients(dynamics, y0, weights_out, method="rk4", step_size=1 / 32, gradient="backprop")


def test_adjoint_matches_central_finite_differences(problem, finite_differences, adjoint_grads):
    _, _, _, direction_y0, direction_w = problem
    got = directional(adjoint_grads, direction_y0, direction_w)
    np.testing.assert_allclose(got, finite_differences, rtol=1e-5)


def test_backprop_through_rk4_matches_central_finite_differences(
    problem, finite_differences, rk4_backprop_grads
):
    _, _, _, direction_y0, direction_w = problem
    got = directional(rk4_backprop_grads, direction_y0, direction_w)
    np.testing.assert_allclose(got, finite_differences, rtol=1e-5)


def test_adjoint_matches_backprop_through_fine_rk4(adjoint_grads, rk4_backprop_grads):
    for a, r in zip(adjoint_grads, rk4_backprop_grads):
        np.testing.assert_allclose(a.numpy(), r.numpy(), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize(
    "solver, tolerance",
    [
        # Default tolerances (rtol=1e-3): gradients good to ~1e-3 relative.
        (dict(), 1e-2),
        (dict(gradient="backprop"), 1e-2),
        # The adjoint of a fixed-step solve integrates the adjoint ODE with
        # the same method: close to, not equal to, backprop through the steps.
        (dict(method="rk4", step_size=1 / 8), 1e-3),
        (dict(method="midpoint", num_steps=32, gradient="backprop"), 1e-2),
    ],
    ids=["dopri5-adjoint-default", "dopri5-backprop", "rk4-adjoint", "midpoint-backprop"],
)
def test_every_gradient_mode_is_close_to_the_reference(
    problem, rk4_backprop_grads, solver, tolerance
):
    dynamics, y0, weights_out, _, _ = problem
    grads = gradients(dynamics, y0, weights_out, **solver)
    for a, r in zip(grads, rk4_backprop_grads):
        scale = float(tf.reduce_max(tf.abs(r)))
        np.testing.assert_allclose(a.numpy(), r.numpy(), rtol=tolerance, atol=tolerance * scale)


@pytest.mark.parametrize(
    "solver, tolerance",
    [
        (dict(rtol=1e-7, atol=1e-10), 1e-5),
        (dict(method="euler", num_steps=64, gradient="backprop"), 1e-2),
    ],
    ids=["dopri5-adjoint", "euler-backprop"],
)
def test_gradient_through_every_output_time(solver, tolerance):
    # y(t) = y0 exp(-t): d/dy0 of sum over t of y(t) is sum exp(-t), t = 0 included.
    t = [0.0, 0.5, 1.0]
    y0 = tf.constant([1.0, 2.0], F64)
    with tf.GradientTape() as tape:
        tape.watch(y0)
        total = tf.reduce_sum(odelayers.odeint(lambda t, y: -y, y0, t, **solver))
    grad = tape.gradient(total, y0).numpy()
    np.testing.assert_allclose(grad, np.full(2, np.exp(-np.array(t)).sum()), rtol=tolerance)


@pytest.mark.parametrize("gradient", ["adjoint", "backprop"])
def test_gradient_is_finite_when_dynamics_start_at_zero(gradient):
    # y' = w y with w = 0: the step-size controller sees a zero derivative
    # (0/0 in Hairer's first-step formula). The controller must not be
    # differentiated: d/dw sum(y(1)) = sum(y0 * t * exp(w t)) = 3 exactly.
    w = tf.Variable(0.0, dtype=tf.float64)
    with tf.GradientTape() as tape:
        y = odelayers.odeint(
            lambda t, y: w * y, tf.ones([3, 1], tf.float64), [0.0, 1.0], gradient=gradient
        )
        total = tf.reduce_sum(y[-1])
    np.testing.assert_allclose(tape.gradient(total, w).numpy(), 3.0, rtol=1e-3)


def test_full_adjoint_norm_matches_central_finite_differences(problem, finite_differences):
    dynamics, y0, weights_out, direction_y0, direction_w = problem
    grads = gradients(dynamics, y0, weights_out, rtol=1e-8, atol=1e-10, adjoint_norm="full")
    got = directional(grads, direction_y0, direction_w)
    np.testing.assert_allclose(got, finite_differences, rtol=1e-5)


def test_seminorm_saves_backward_steps_without_losing_accuracy():
    # Kidger, Chen & Lyons (2021): the parameter-gradient integrals need no
    # error control of their own. On a small convolutional ODE (the kind where
    # the parameters outnumber the state) the seminorm's backward solve takes
    # far fewer steps, and both gradients are as close to a fine reference
    # (backprop through 128 RK4 steps) as the tolerance allows.
    keras.utils.set_random_seed(3)
    conv1 = odelayers.ConcatConv2D(4, 3, dtype="float64")
    conv2 = odelayers.ConcatConv2D(4, 3, dtype="float64")
    y0 = tf.random.stateless_normal([2, 6, 6, 4], seed=[1, 2], dtype=F64)
    calls = tf.Variable(0, dtype=tf.int64, trainable=False)

    def dynamics(t, h):
        with tf.control_dependencies([calls.assign_add(1)]):
            return conv2(tf.nn.relu(conv1(tf.identity(h), t=t)), t=t)

    dynamics(0.0, y0)  # build
    weights = conv1.trainable_variables + conv2.trainable_variables

    def gradient(**solver):
        @tf.function
        def step():
            with tf.GradientTape() as tape:
                tape.watch(y0)
                ys, info = odelayers.odeint(dynamics, y0, [0.0, 1.0], full_output=True, **solver)
                loss = tf.reduce_sum(tf.sin(ys[-1]))
            return info["nfe"], tape.gradient(loss, [y0] + weights)

        calls.assign(0)
        forward_calls, grads = step()
        flat = np.concatenate([np.ravel(g.numpy()) for g in grads])
        return int(calls.numpy()) - int(forward_calls), flat

    _, reference = gradient(method="rk4", num_steps=128, gradient="backprop")
    backward_calls = {}
    for norm in ("seminorm", "full"):
        backward_calls[norm], grads = gradient(rtol=1e-5, atol=1e-5, adjoint_norm=norm)
        error = np.linalg.norm(grads - reference) / np.linalg.norm(reference)
        assert error < 2e-3, (norm, error)
    assert backward_calls["seminorm"] < 0.6 * backward_calls["full"], backward_calls


@pytest.mark.parametrize("fuse", [True, False], ids=["xla-fused-stage-sums", "add_n-stage-sums"])
@pytest.mark.parametrize(
    "solver",
    [dict(), dict(adjoint_norm="full"), dict(gradient="backprop")],
    ids=["adjoint-seminorm", "adjoint-full", "backprop"],
)
def test_dopri5_values_and_gradients_match_closed_form(fuse, solver, monkeypatch):
    # dy/dt = a y: y(1) = y0 exp(a); for L = sum(w y(1)), dL/dy0 = w exp(a) and
    # dL/da = sum(w y0) exp(a). Both ways of forming the stage sums (one
    # XLA-fused loop for large states, add_n for small ones) are checked.
    monkeypatch.setattr("odelayers._tuning.FUSE_MIN_ELEMENTS", 1 if fuse else 10**9)
    rng = np.random.default_rng(7)
    y0 = tf.constant(rng.normal(size=(2, 3, 4)), F64)
    w = tf.constant(rng.normal(size=(2, 3, 4)), F64)
    a = tf.Variable(-0.7, dtype=F64)

    @tf.function  # the fused stage sums are used in graphs only
    def solve_and_differentiate(y0):
        with tf.GradientTape() as tape:
            tape.watch(y0)
            y1 = odelayers.odeint(
                lambda t, y: a * y,
                y0,
                [0.0, 1.0],
                rtol=1e-10,
                atol=1e-10,
                **solver,
            )[-1]
            loss = tf.reduce_sum(w * y1)
        return (y1, *tape.gradient(loss, [y0, a]))

    y1, grad_y0, grad_a = solve_and_differentiate(y0)
    # The fused sums are XLA-compiled functions named after `fused_sum` in the
    # traced graph's function library; add_n sums leave none.
    library = solve_and_differentiate.get_concrete_function(y0).graph.as_graph_def().library
    assert any("fused_sum" in f.signature.name for f in library.function) == fuse
    decay = np.exp(-0.7)
    np.testing.assert_allclose(y1.numpy(), y0.numpy() * decay, rtol=1e-8)
    np.testing.assert_allclose(grad_y0.numpy(), w.numpy() * decay, rtol=1e-7)
    np.testing.assert_allclose(grad_a.numpy(), np.sum(w.numpy() * y0.numpy()) * decay, rtol=1e-7)


# dy/dt = -k y, y(0) = 1, k = v: L = y(1) + k = exp(-k) + k, dL/dv = 1 - exp(-k).
EXACT_DL_DV = 1.0 - np.exp(-2.0)
EVERY_MODE = [
    ("dopri5", "adjoint"),
    ("dopri5", "backprop"),
    ("bdf", "adjoint"),
    ("rk4", "adjoint"),
    ("rk4", "backprop"),
    ("euler", "adjoint"),
]


def _decay_gradient(method, gradient, as_constant, compiled):
    v = tf.Variable(2.0, dtype=F64)
    steps = {} if method in ("dopri5", "bdf") else {"num_steps": 400 if method == "euler" else 50}
    tight = {"rtol": 1e-9, "atol": 1e-12} if method in ("dopri5", "bdf") else {}

    def run():
        with tf.GradientTape() as tape:
            k = v * 1.0
            y0 = tf.constant(1.0, F64)
            if as_constant:
                func, extra = (lambda t, y, k: -k * y), {"constants": {"k": k}}
            else:
                func, extra = (lambda t, y: -k * y), {}
            y1 = odelayers.odeint(
                func, y0, [0.0, 1.0], method, gradient=gradient, **steps, **tight, **extra
            )[-1]
            loss = y1 + k
        return tape.gradient(loss, v)

    return float((tf.function(run) if compiled else run)())


@pytest.mark.parametrize("method, gradient", EVERY_MODE)
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "tf.function"])
def test_constants_are_differentiated_by_every_mode(method, gradient, compiled):
    tolerance = 3e-3 if method == "euler" else 1e-6
    grad = _decay_gradient(method, gradient, as_constant=True, compiled=compiled)
    assert grad == pytest.approx(EXACT_DL_DV, abs=tolerance)


@pytest.mark.parametrize(
    "method, gradient",
    [pytest.param(*m, marks=pytest.mark.slow) if m[0] == "bdf" else m for m in EVERY_MODE],
)
def test_captured_tensors_get_their_gradient_or_a_refusal(method, gradient):
    # Eagerly the gradient through captured tensors is right; inside tf.function
    # the adjoint cannot see them: it refuses, naming constants=, never a wrong value.
    tolerance = 3e-3 if method == "euler" else 1e-6
    grad = _decay_gradient(method, gradient, as_constant=False, compiled=False)
    assert grad == pytest.approx(EXACT_DL_DV, abs=tolerance)
    if gradient == "backprop":
        grad = _decay_gradient(method, gradient, as_constant=False, compiled=True)
        assert grad == pytest.approx(EXACT_DL_DV, abs=tolerance)
    else:
        with pytest.raises(ValueError, match=r"Pass them as constants: odeint\(lambda t, y, k"):
            _decay_gradient(method, gradient, as_constant=False, compiled=True)


def test_captured_constants_and_variables_are_not_refused():
    w = tf.Variable(0.5, dtype=F64)
    rate = tf.constant(2.0, F64)

    @tf.function
    def run():
        with tf.GradientTape() as tape:
            scale = tf.constant(1.0, F64)
            y1 = odelayers.odeint(
                lambda t, y: -rate * scale * w * y,
                tf.ones([2], F64),
                [0, 1.0],
                rtol=1e-9,
                atol=1e-12,
            )
            loss = tf.reduce_sum(y1[-1])
        return tape.gradient(loss, w)

    # d/dw 2 exp(-2 w) = -4 exp(-2 w)
    assert float(run()) == pytest.approx(-4.0 * np.exp(-1.0), rel=1e-5)


@pytest.mark.parametrize("gradient", ["adjoint", "backprop"])
@pytest.mark.parametrize("method", ["dopri5", "rk4"])
def test_decreasing_times_integrate_backwards_with_gradients(method, gradient):
    # dy/dt = a y from t = 1 back to t = 0: y(0) = y1 exp(-a); dy(0)/da = -y1 exp(-a).
    a = tf.Variable(0.7, dtype=F64)
    y1 = tf.constant([2.0], F64)
    steps = {"num_steps": 200} if method == "rk4" else {"rtol": 1e-10, "atol": 1e-12}
    with tf.GradientTape() as tape:
        tape.watch(y1)
        y = odelayers.odeint(
            lambda t, y: a * y, y1, [1.0, 0.5, 0.0], method, gradient=gradient, **steps
        )
        loss = tf.reduce_sum(y[-1])
    grad_a, grad_y1 = tape.gradient(loss, [a, y1])
    np.testing.assert_allclose(
        y.numpy()[:, 0], 2.0 * np.exp(-0.7 * np.array([0.0, 0.5, 1.0])), rtol=1e-7
    )
    assert float(grad_a) == pytest.approx(-2.0 * np.exp(-0.7), rel=1e-6)
    assert float(grad_y1[0]) == pytest.approx(np.exp(-0.7), rel=1e-6)


TIME_MODES = [
    ("dopri5", "adjoint"),
    ("dopri5", "backprop"),
    ("rk4", "adjoint"),
    ("rk4", "backprop"),
]


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "tf.function"])
@pytest.mark.parametrize("times", [[0.2, 0.7, 1.1], [1.1, 0.5, 0.0]], ids=["forward", "backward"])
@pytest.mark.parametrize("method, gradient", TIME_MODES)
def test_gradient_with_respect_to_every_time_matches_closed_form(method, gradient, times, compiled):
    # dy/dt = t y: y_k = y0 exp((t_k^2 - t_0^2) / 2). For L = sum_k w_k y_k:
    # dL/dt_k = w_k t_k y_k (k >= 1), dL/dt_0 = -t_0 sum_{k>=1} w_k y_k.
    w = np.array([0.3, -1.0, 2.0])
    t = tf.constant(times, F64)
    steps = {"num_steps": 200} if method == "rk4" else {"rtol": 1e-10, "atol": 1e-12}

    def run():
        with tf.GradientTape() as tape:
            tape.watch(t)
            ys = odelayers.odeint(
                lambda s, y: s * y, tf.constant(1.5, F64), t, method, gradient=gradient, **steps
            )
            loss = tf.reduce_sum(w * ys)
        return tape.gradient(loss, t)

    grad = (tf.function(run) if compiled else run)().numpy()
    t_np = np.array(times)
    y = 1.5 * np.exp((t_np**2 - t_np[0] ** 2) / 2)
    exact = w * t_np * y
    exact[0] = -t_np[0] * np.sum(w[1:] * y[1:])
    np.testing.assert_allclose(grad, exact, rtol=1e-6)


@pytest.mark.parametrize("gradient", ["adjoint", "backprop"])
def test_gradient_with_respect_to_variable_times_matches_scipy_finite_differences(gradient):
    # Nonlinear, time-dependent dynamics; t a variable, unknown while tracing.
    import scipy.integrate

    def f(s, y):
        return np.sin(3 * s) * np.tanh(y[::-1]) - 0.3 * y

    y0, times = np.array([0.4, -1.2]), np.array([0.1, 0.6, 1.4, 2.0])
    w = np.array([[1.0, 0.5], [-2.0, 1.0], [0.7, 0.3], [1.5, -1.0]])

    def scipy_loss(ts):
        sol = scipy.integrate.solve_ivp(f, (ts[0], ts[-1]), y0, t_eval=ts, rtol=1e-12, atol=1e-12)
        return np.sum(w * sol.y.T)

    eps = 1e-6
    fd = [
        (scipy_loss(times + eps * e) - scipy_loss(times - eps * e)) / (2 * eps)
        for e in np.eye(len(times))
    ]
    t = tf.Variable(times, dtype=F64)

    @tf.function
    def grad():
        with tf.GradientTape() as tape:
            ys = odelayers.odeint(
                lambda s, y: tf.sin(3 * s) * tf.tanh(y[::-1]) - 0.3 * y,
                tf.constant(y0, F64),
                t,
                gradient=gradient,
                rtol=1e-11,
                atol=1e-12,
            )
            loss = tf.reduce_sum(w * ys)
        return tape.gradient(loss, t)

    np.testing.assert_allclose(grad().numpy(), fd, rtol=1e-6, atol=1e-8)


def test_an_odeblock_whose_dynamics_capture_a_tensor_refuses_rather_than_lose_its_gradient():
    k = tf.Variable(2.0)

    class Captures(keras.layers.Layer):
        def call(self, h, t):
            return -self.rate * h  # a tensor computed outside the dynamics

    def gradient(method_options):
        dynamics = Captures()
        block = odelayers.ODEBlock(dynamics, t0=0.0, t1=1.0, **method_options)

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                dynamics.rate = k * 1.0
                loss = tf.reduce_sum(block(tf.ones([1, 1])))
            return tape.gradient(loss, k)

        return step()

    with pytest.raises(ValueError, match="computed outside them.*gradient='backprop'"):
        gradient({"method": "dopri5", "gradient": "adjoint"})
    # d/dk exp(-k) at k = 2, through the steps
    exact = -np.exp(-2.0)
    got = gradient({"method": "dopri5", "gradient": "backprop", "rtol": 1e-7, "atol": 1e-7})
    assert float(got) == pytest.approx(exact, rel=1e-5)
