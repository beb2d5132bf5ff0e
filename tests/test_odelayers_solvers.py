"""odelayers.odeint against closed forms, SciPy and the theory of each method.

Reference values come from closed-form solutions (the report's appendix 7.3
ODEs) and from scipy.integrate.solve_ivp at tight tolerances, never from
odelayers itself.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

import odelayers  # noqa: E402
from odelayers.errors import ODESolverError  # noqa: E402

F64 = tf.float64

# ---- the report's ODEs (appendix 7.3) and their closed forms ---------------


def growth(t, y):
    """dy/dx = y, y(0) = 1  ->  y = exp(x)."""
    return y


def relaxation(t, y):
    """dy/dx + y/2 = 3/2, y(0) = 2  ->  y = 3 - exp(-x/2)."""
    return 1.5 - 0.5 * y


R, K, LOGISTIC_Y0 = 1.5, 10.0, 0.5


def logistic(t, y):
    """Verhulst: dy/dt = r y (1 - y/K)."""
    return R * y * (1.0 - y / K)


def logistic_exact(t):
    return K / (1.0 + (K / LOGISTIC_Y0 - 1.0) * np.exp(-R * t))


PROBLEMS = {
    "growth": (growth, 1.0, np.linspace(0.0, 2.0, 5), np.exp),
    "relaxation": (relaxation, 2.0, np.linspace(0.0, 6.0, 7), lambda x: 3.0 - np.exp(-x / 2.0)),
    "logistic": (logistic, LOGISTIC_Y0, np.linspace(0.0, 6.0, 7), logistic_exact),
}


def solve(problem, **kwargs):
    func, y0, t, exact = PROBLEMS[problem]
    ys = odelayers.odeint(func, tf.constant([y0], F64), t, **kwargs)
    return ys.numpy()[:, 0], exact(t)


def test_euler_step_one_reproduces_the_report_table():
    # Appendix 7.3.2: Euler, step 1 on [0, 4] for dy/dx = y gives 1, 2, 4, 8, 16.
    ys = odelayers.odeint(
        growth, tf.constant(1.0, F64), [0.0, 1.0, 2.0, 3.0, 4.0], method="euler", step_size=1.0
    )
    np.testing.assert_array_equal(ys.numpy(), [1.0, 2.0, 4.0, 8.0, 16.0])
    # The same grid through a single output interval.
    last = odelayers.odeint(growth, tf.constant(1.0, F64), [0.0, 4.0], method="euler", num_steps=4)
    assert float(last[-1]) == 16.0


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize(
    "method, kwargs, tolerance",
    [
        # Adaptive: global error of the order of the tolerances.
        ("dopri5", dict(rtol=1e-6, atol=1e-9), 1e-5),
        # Fixed step: error ~ C h^order for these smooth problems (C ~ 1).
        ("euler", dict(step_size=1e-2), 2e-2),
        ("midpoint", dict(step_size=1e-2), 1e-4),
        ("rk4", dict(step_size=5e-2), 1e-6),
    ],
)
def test_report_odes_within_each_methods_tolerance(problem, method, kwargs, tolerance):
    got, exact = solve(problem, method=method, **kwargs)
    relative = np.max(np.abs(got - exact) / np.abs(exact))
    assert relative < tolerance


def test_loose_dopri5_is_looser_but_still_rtol_level():
    # A solver that ignored rtol would be equally accurate at both settings.
    loose, exact = solve("logistic", rtol=1e-3, atol=1e-6)
    tight, _ = solve("logistic", rtol=1e-7, atol=1e-10)
    loose_error = np.max(np.abs(loose - exact) / exact)
    tight_error = np.max(np.abs(tight - exact) / exact)
    assert loose_error < 2e-2
    assert tight_error < 1e-5
    assert tight_error < loose_error / 10


@pytest.mark.parametrize(
    "method, order, steps",
    [
        ("euler", 1, [1 / 8, 1 / 16, 1 / 32, 1 / 64]),
        ("midpoint", 2, [1 / 4, 1 / 8, 1 / 16, 1 / 32]),
        ("rk4", 4, [1 / 2, 1 / 4, 1 / 8, 1 / 16]),
    ],
)
def test_convergence_order_from_halving_steps(method, order, steps):
    # Powers of two divide the unit spacing of the output times exactly, so
    # every solve really halves the step.
    errors = []
    for h in steps:
        got, exact = solve("relaxation", method=method, step_size=h)
        errors.append(np.max(np.abs(got - exact)))
    slope = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert abs(slope - order) < 0.25, (slope, errors)


# ---- against SciPy ----------------------------------------------------------


def lotka_volterra(t, z):
    x, y = z[..., 0], z[..., 1]
    return tf.stack([1.5 * x - x * y, x * y - 3.0 * y], axis=-1)


def lotka_volterra_np(t, z):
    x, y = z
    return [1.5 * x - x * y, x * y - 3.0 * y]


@pytest.fixture(scope="module")
def lv_reference():
    t = np.linspace(0.0, 4.0, 9)  # about two predator-prey cycles
    z0 = [2.0, 1.0]
    sol = solve_ivp(
        lotka_volterra_np, (0.0, 4.0), z0, t_eval=t, rtol=1e-10, atol=1e-12, method="DOP853"
    )
    return t, np.asarray(z0), sol.y.T


@pytest.mark.parametrize("method, rtol, tolerance", [("dopri5", 1e-8, 1e-5), ("bdf", 1e-6, 1e-3)])
def test_nonlinear_system_agrees_with_scipy(lv_reference, method, rtol, tolerance):
    t, z0, reference = lv_reference
    ys = odelayers.odeint(
        lotka_volterra, tf.constant(z0, F64), t, method=method, rtol=rtol, atol=rtol * 1e-2
    )
    np.testing.assert_allclose(ys.numpy(), reference, rtol=tolerance, atol=tolerance)


def test_bdf_solves_a_stiff_problem_in_few_steps():
    # y1' = -y1, y2' = 1000 (y1 - y2): eigenvalues -1 and -1000. Closed form
    # y1 = exp(-t), y2 = 1000/999 (exp(-t) - exp(-1000 t)).
    a = tf.constant([[-1.0, 0.0], [1000.0, -1000.0]], F64)

    def stiff(t, y):
        return tf.linalg.matvec(a, y)

    t = np.array([0.0, 1.0, 5.0])
    exact = np.stack([np.exp(-t), 1000.0 / 999.0 * (np.exp(-t) - np.exp(-1000.0 * t))], axis=1)
    ys, info = odelayers.odeint(
        stiff, tf.constant([1.0, 0.0], F64), t, method="bdf", rtol=1e-6, atol=1e-9, full_output=True
    )
    np.testing.assert_allclose(ys.numpy(), exact, rtol=1e-3, atol=1e-8)
    assert int(info["nfe"]) < 1000
    # An explicit method is held to the stability limit (|h| < ~3.3e-3) and
    # gives up within the same budget of steps.
    with pytest.raises(ODESolverError, match="max_num_steps=100.*method='bdf'"):
        odelayers.odeint(
            stiff, tf.constant([1.0, 0.0], F64), t, rtol=1e-6, atol=1e-9, max_num_steps=100
        )


# ---- NFE, shapes, dtypes, graph mode ---------------------------------------


@pytest.mark.parametrize(
    "method, kwargs",
    [
        ("dopri5", {}),
        ("dopri5", dict(first_step=0.1)),
        ("rk4", dict(step_size=0.25)),
        ("euler", dict(num_steps=3)),
    ],
)
def test_reported_nfe_counts_every_evaluation(method, kwargs):
    calls = []

    def counted(t, y):
        calls.append(1)
        return -y

    _, info = odelayers.odeint(
        counted, tf.ones([2], F64), [0.0, 0.5, 1.0], method=method, full_output=True, **kwargs
    )
    assert int(info["nfe"]) == len(calls) > 0


def test_automatic_first_step_saves_evaluations():
    # TFP's default first step (1e-3) needs a few growing steps; Hairer's
    # starting step costs one evaluation and skips them.
    y0 = tf.constant([1.0, -0.5], F64)
    _, auto = odelayers.odeint(lambda t, y: -y, y0, [0.0, 1.0], full_output=True)
    _, fixed = odelayers.odeint(lambda t, y: -y, y0, [0.0, 1.0], first_step=1e-3, full_output=True)
    assert int(auto["nfe"]) < int(fixed["nfe"])


def test_any_rank_state_and_float32():
    y0 = tf.random.stateless_normal([2, 3, 4], seed=[1, 2])
    ys = odelayers.odeint(lambda t, y: -2.0 * y, y0, [0.0, 0.5, 1.0])
    assert ys.shape == (3, 2, 3, 4) and ys.dtype == tf.float32
    np.testing.assert_allclose(ys[-1].numpy(), y0.numpy() * np.exp(-2.0), rtol=5e-3, atol=1e-5)
    np.testing.assert_array_equal(ys[0].numpy(), y0.numpy())


def test_time_dependent_dynamics_and_scalar_state():
    # dy/dt = cos(t)  ->  y = sin(t)
    ys = odelayers.odeint(
        lambda t, y: tf.cos(t), tf.constant(0.0, F64), np.linspace(0, 3, 4), rtol=1e-8, atol=1e-10
    )
    np.testing.assert_allclose(ys.numpy(), np.sin(np.linspace(0, 3, 4)), atol=1e-7)


def test_works_inside_tf_function_with_tensor_times():
    @tf.function
    def run(y0, t):
        return odelayers.odeint(relaxation, y0, t, method="rk4", step_size=0.25), odelayers.odeint(
            relaxation, y0, t
        )

    t = tf.constant([0.0, 1.0, 2.0], F64)
    fixed, adaptive = run(tf.constant([2.0], F64), t)
    exact = 3.0 - np.exp(-t.numpy() / 2.0)
    np.testing.assert_allclose(fixed.numpy()[:, 0], exact, rtol=1e-5)
    np.testing.assert_allclose(adaptive.numpy()[:, 0], exact, rtol=1e-3)


# ---- errors that say what to change ------------------------------------------


def f_identity(t, y):
    return y


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        (
            dict(method="rk45"),
            ValueError,
            "Valid methods: 'bdf', 'dopri5', 'euler', 'midpoint', 'rk4'",
        ),
        (dict(gradient="exact"), ValueError, "Valid modes: 'adjoint', 'backprop'"),
        (dict(method="bdf", gradient="backprop"), ValueError, "supports gradient='adjoint' only"),
        (dict(method="euler"), ValueError, "pass step_size=..."),
        (
            dict(method="euler", step_size=0.1, num_steps=3),
            ValueError,
            "either step_size or num_steps",
        ),
        (dict(step_size=0.1), ValueError, "fixed-step methods"),
        (
            dict(method="rk4", step_size=0.1, first_step=0.1),
            ValueError,
            "first_step applies to adaptive",
        ),
        (dict(rtol=-1.0), ValueError, "rtol must be a positive"),
        (dict(max_num_steps=0), ValueError, "max_num_steps must be a positive integer"),
        (dict(adjoint_norm="max"), ValueError, "Valid: 'seminorm', 'full'"),
    ],
)
def test_invalid_options_name_the_fix(kwargs, error, text):
    with pytest.raises(error, match=_escaped(text)):
        odelayers.odeint(f_identity, tf.ones([1]), [0.0, 1.0], **kwargs)


def _escaped(text):
    import re

    return re.escape(text)


def test_invalid_times_and_states():
    with pytest.raises(
        ValueError,
        match=r"strictly increasing or strictly decreasing, but t\[1\] = 1 and t\[2\] = 0.5",
    ):
        odelayers.odeint(f_identity, tf.ones([1]), [0.0, 1.0, 0.5])
    with pytest.raises(TypeError, match=r"t has dtype float32 but y0 has dtype float64.*tf.cast"):
        odelayers.odeint(f_identity, tf.ones([1], F64), tf.constant([0.0, 1.0]))
    with pytest.raises(TypeError, match="must be floating point"):
        odelayers.odeint(f_identity, tf.constant([1, 2]), [0.0, 1.0])
    with pytest.raises(ValueError, match=r"returned shape \(3,\) for a state of shape \(2,\)"):
        odelayers.odeint(lambda t, y: tf.ones([3]), tf.ones([2]), [0.0, 1.0])
    with pytest.raises(TypeError, match="returned dtype float32 for a state of dtype float64"):
        odelayers.odeint(lambda t, y: tf.ones([2]), tf.ones([2], F64), [0.0, 1.0])


def test_solver_gives_up_with_advice():
    # dy/dt = y^2, y(0) = 1 blows up at t = 1: the step size underflows
    # (in float32 after fewer steps than in float64).
    with pytest.raises(ODESolverError, match="step size underflowed.*loosen rtol/atol"):
        odelayers.odeint(lambda t, y: y * y, tf.ones([1]), [0.0, 2.0])
    with pytest.raises(ODESolverError, match="max_num_steps=5 steps.*Raise max_num_steps"):
        odelayers.odeint(
            lambda t, y: tf.sin(20.0 * y), tf.ones([1], F64), [0.0, 10.0], max_num_steps=5
        )
    with pytest.raises(ODESolverError, match="returned NaN or Inf"):
        odelayers.odeint(lambda t, y: tf.math.log(y - 2.0), tf.ones([1], F64), [0.0, 1.0])


def test_solver_errors_inside_tf_function_carry_the_same_advice():
    @tf.function
    def run(y0):
        return odelayers.odeint(lambda t, y: y * y, y0, [0.0, 2.0])

    with pytest.raises(
        tf.errors.InvalidArgumentError, match="odelayers: dopri5 gave up: the step size underflowed"
    ):
        run(tf.ones([1], F64))


def test_available_methods_lists_the_registry():
    methods = odelayers.available_methods()
    assert list(methods) == ["bdf", "dopri5", "euler", "midpoint", "rk4"]
    assert all(isinstance(text, str) and text for text in methods.values())


def test_lazy_dense_output_equals_coefficients_at_every_step(monkeypatch):
    # odelayers computes the interpolation coefficients only for the step that
    # crosses an output time; computing them after every step (TFP's way)
    # must give the same outputs, also for several outputs inside one step.
    y0 = tf.constant([2.0, 0.5], tf.float64)
    times = tf.constant([1e-4, 2e-4, 0.3, 0.31, 0.32, 1.7, 4.0], tf.float64)
    results = []
    for lazy in (True, False):
        monkeypatch.setattr("odelayers._tuning.LAZY_DENSE_OUTPUT", lazy)
        solver = odelayers.DormandPrince(odelayers.SolverOptions(rtol=1e-5, atol=1e-8))
        results.append(solver.solve(lotka_volterra, 0.0, y0, solution_times=times))
    np.testing.assert_array_equal(results[0].states.numpy(), results[1].states.numpy())
    assert int(results[0].diagnostics.num_ode_fn_evaluations) == int(
        results[1].diagnostics.num_ode_fn_evaluations
    )


def test_float64_dopri5_reaches_tight_tolerances():
    # dy/dt = y: y(t) = exp(t). TFP's own stage sums round the tableau to
    # float32 and stall near 6e-8 whatever the tolerance; odelayers' must
    # reach the tolerance's level, at the solution and in the dense output.
    t = [0.0, 0.3, 0.77, 1.0]
    y, info = odelayers.odeint(
        lambda t, y: y, tf.ones([1], tf.float64), t, rtol=1e-12, atol=1e-12, full_output=True
    )
    np.testing.assert_allclose(y.numpy()[:, 0], np.exp(t), rtol=2e-10)
    assert int(info["nfe"]) < 1000


@pytest.mark.parametrize("method", odelayers.METHODS)
def test_zero_size_states_solve_with_every_method(method):
    steps = {"num_steps": 4} if method in odelayers.FIXED_STEP_METHODS else {}
    y0 = tf.zeros([3, 0])
    with tf.GradientTape() as tape:
        tape.watch(y0)
        y, info = odelayers.odeint(
            lambda t, y: -y, y0, [0.0, 1.0], method, full_output=True, **steps
        )
        loss = tf.reduce_sum(y)
    assert y.shape == (2, 3, 0) and int(info["nfe"]) == 0
    assert tape.gradient(loss, y0).shape == (3, 0)


def test_decreasing_tensor_times_inside_tf_function():
    @tf.function
    def run(t):
        return odelayers.odeint(lambda t, y: -y, tf.ones([1], F64), t, rtol=1e-9, atol=1e-12)

    t = tf.constant([2.0, 1.0, 0.0], F64)
    np.testing.assert_allclose(run(t).numpy()[:, 0], np.exp([0.0, 1.0, 2.0]), rtol=1e-7)
    with pytest.raises(tf.errors.InvalidArgumentError, match="strictly increasing or strictly"):
        run(tf.constant([0.0, 1.0, 0.5], F64))


# ---- many output times on a fixed grid (a CDE's knot-to-knot steps) --------------------------


@pytest.mark.parametrize("gradient", ["backprop", "adjoint"])
def test_many_fixed_step_outputs_follow_eulers_closed_form_in_a_flat_graph(gradient):
    # Euler on dy/dt = -y with step h gives y_k = (1 - h)^k exactly, and dy_n/dy0 = (1 - h)^n.
    # Outputs at every step: one loop over all steps, not one unrolled step per output, so the
    # traced graph grows by an output's slices only, not by a step's ops per output.
    def solve(n):
        t = np.linspace(0.0, 1.0, n + 1)

        @tf.function
        def run(y0):
            with tf.GradientTape() as tape:
                tape.watch(y0)
                options = dict(method="euler", step_size=1.0 / n, gradient=gradient)
                ys = odelayers.odeint(lambda t, y: -y, y0, t, **options)
                last = tf.reduce_sum(ys[-1])
            return ys, tape.gradient(last, y0)

        graph = run.get_concrete_function(tf.TensorSpec([2], F64)).graph
        return run(tf.constant([1.0, 2.0], F64)), len(graph.get_operations())

    ops = {}
    for n in (20, 80):
        (ys, grad), ops[n] = solve(n)
        exact = (1.0 - 1.0 / n) ** np.arange(n + 1)
        np.testing.assert_allclose(ys.numpy(), exact[:, None] * [1.0, 2.0], rtol=1e-12)
        np.testing.assert_allclose(grad.numpy(), [exact[-1]] * 2, rtol=1e-12)
    assert (ops[80] - ops[20]) / 60 <= 2, ops  # an output's slices; a step's ops are in the loop
