"""SolverOptions: one validated object for every solver setting; the loop settings."""

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import odelayers  # noqa: E402
from odelayers import SolverOptions  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
F64 = tf.float64


# ---- the options object ---------------------------------------------------------


def test_a_saved_model_loads_whatever_the_order_of_the_imports(tmp_path):
    """A fresh process that imports odelayers alone loads a saved ODEBlock."""
    inp = keras.Input((3,))
    model = keras.Model(inp, odelayers.ODEBlock(_Decay(), method="rk4", num_steps=4)(inp))
    path = tmp_path / "m.keras"
    model.save(path)
    expected = model.predict(np.ones((1, 3)), verbose=0)
    code = (
        "import sys\n"
        "import odelayers\n"
        "import keras, numpy as np\n"
        f"keras.saving.register_keras_serializable('{_Decay.__module__}')(type('_Decay', "
        "(keras.layers.Layer,), {'call': lambda self, h, t: -h}))\n"
        f"m = keras.models.load_model({str(path)!r})\n"
        "print(float(m.predict(np.ones((1, 3)), verbose=0)[0, 0]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert float(result.stdout.strip().splitlines()[-1]) == pytest.approx(float(expected[0, 0]))


@keras.saving.register_keras_serializable(__name__)
class _Decay(keras.layers.Layer):
    def call(self, h, t):
        return -h


def test_every_exported_name_resolves():
    assert set(odelayers.__all__) <= set(dir(odelayers))
    for name in odelayers.__all__:
        assert getattr(odelayers, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'Dopri5'"):
        odelayers.Dopri5  # noqa: B018


def test_defaults_are_defined_once_and_exported():
    options = SolverOptions()
    assert options.method == odelayers.METHODS[0] == "dopri5"
    assert options.gradient == odelayers.GRADIENTS[0] == "adjoint"
    assert options.adjoint_norm == odelayers.ADJOINT_NORMS[0] == "seminorm"
    assert options.error_norm == odelayers.ERROR_NORMS[0] == "rms"
    assert options.max_num_steps == odelayers.DEFAULT_MAX_NUM_STEPS == 4096
    assert (options.rtol, options.atol) == (1e-3, 1e-6)
    assert sorted(odelayers.available_methods()) == sorted(odelayers.METHODS)


def test_options_are_normalised_and_frozen():
    options = SolverOptions(method="RK4", num_steps=3, rtol=1, gradient="Backprop")
    assert (options.method, options.gradient, options.rtol) == ("rk4", "backprop", 1.0)
    assert isinstance(options.rtol, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.rtol = 1e-5
    assert SolverOptions(**options.to_dict()) == options


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        (
            dict(method="rk45"),
            ValueError,
            "Valid methods: 'bdf', 'dopri5', 'euler', 'midpoint', 'rk4'",
        ),
        (dict(error_norm="max"), ValueError, "Valid: 'rms', 'tfp'"),
        (dict(max_num_steps=0), ValueError, "max_num_steps must be a positive integer"),
        (dict(method="euler"), ValueError, "pass step_size=..."),
        (dict(atol=float("nan")), ValueError, "atol must be a positive finite number"),
    ],
)
def test_solver_options_reject_bad_values_naming_the_fix(kwargs, error, text):
    with pytest.raises(error, match=re.escape(text)):
        SolverOptions(**kwargs)


def test_unknown_keywords_and_wrong_options_types_name_the_fix():
    with pytest.raises(
        TypeError, match=r"Unknown solver option\(s\) 'rtoll'. Valid: 'method', 'rtol'"
    ):
        odelayers.odeint(lambda t, y: -y, tf.ones([1]), [0.0, 1.0], rtoll=1e-3)
    with pytest.raises(TypeError, match="options must be an odelayers.SolverOptions or a dict"):
        odelayers.odeint(lambda t, y: -y, tf.ones([1]), [0.0, 1.0], options=[("rtol", 1e-3)])
    with pytest.raises(TypeError, match=r"Unknown solver option\(s\) 'stepsize'. Valid:"):
        odelayers.odeint(lambda t, y: -y, tf.ones([1]), [0.0, 1.0], options={"stepsize": 0.1})


def test_a_dict_of_options_as_torchdiffeq_spells_them():
    y0, t = tf.ones([2], F64), [0.0, 1.0]
    as_dict = odelayers.odeint(lambda t, y: -y, y0, t, "rk4", options=dict(step_size=0.1))
    as_options = odelayers.odeint(lambda t, y: -y, y0, t, "rk4", step_size=0.1)
    np.testing.assert_array_equal(as_dict.numpy(), as_options.numpy())
    # rk4 with h = 0.1 on dy/dt = -y: (1 - h + h^2/2 - h^3/6 + h^4/24)^10, not exp(-1)
    h = 0.1
    assert float(as_dict[-1, 0]) == pytest.approx((1 - h + h**2 / 2 - h**3 / 6 + h**4 / 24) ** 10)
    rms = odelayers.odeint(lambda t, y: -y, y0, t, rtol=1e-6, atol=1e-6)
    user_rms = odelayers.odeint(
        lambda t, y: -y,
        y0,
        t,
        options=dict(rtol=1e-6, atol=1e-6, norm=lambda e: tf.norm(e) / 2**0.5),
    )  # torchdiffeq's norm=: the RMS norm of a 2-vector, written out
    np.testing.assert_allclose(user_rms.numpy(), rms.numpy(), rtol=1e-12)


# ---- odeint and ODEBlock take it ----------------------------------------------------


def test_odeint_options_equal_keywords_and_keywords_override_them():
    y0, t = tf.constant([1.0, -2.0], F64), [0.0, 0.5, 2.0]
    options = SolverOptions(rtol=1e-7, atol=1e-9)
    by_keywords = odelayers.odeint(lambda t, y: -y, y0, t, rtol=1e-7, atol=1e-9)
    by_options = odelayers.odeint(lambda t, y: -y, y0, t, options=options)
    np.testing.assert_array_equal(by_options.numpy(), by_keywords.numpy())
    rk4 = odelayers.odeint(lambda t, y: -y, y0, t, "rk4", options=options, step_size=0.5)
    _, info = odelayers.odeint(
        lambda t, y: -y, y0, t, options=options, method="rk4", step_size=0.5, full_output=True
    )
    assert int(info["nfe"]) == 4 * 4  # 1 + 3 steps of 4 stages: rk4, not dopri5
    np.testing.assert_allclose(rk4.numpy(), np.exp(-np.array(t))[:, None] * y0.numpy(), rtol=5e-3)


def test_parallel_iterations_change_no_value_or_gradient(monkeypatch):
    y0 = tf.constant([[0.3, -1.2, 0.8]], F64)
    w = tf.Variable([[0.5, -1.0, 0.2], [0.1, 0.3, -0.7], [0.9, 0.0, -0.4]], dtype=F64)

    def dynamics(t, y):
        return tf.tanh(y @ w) * (1.0 + t)

    def solve(parallel_iterations):
        # Read when the solve is traced: set before tracing a new function.
        monkeypatch.setattr("odelayers._tuning.PARALLEL_ITERATIONS", parallel_iterations)

        @tf.function
        def run():
            with tf.GradientTape() as tape:
                y = odelayers.odeint(dynamics, y0, [0.0, 0.7, 1.5], rtol=1e-6, atol=1e-8)
                loss = tf.reduce_sum(y**2)
            return y, tape.gradient(loss, w)

        graph = run.get_concrete_function().graph.as_graph_def()
        loops = [n for f in graph.library.function for n in f.node_def if n.op == "While"]
        loops += [n for n in graph.node if n.op == "While"]
        assert {n.attr["parallel_iterations"].i for n in loops} >= {parallel_iterations}
        return run()

    (y1, g1), (y10, g10) = solve(1), solve(10)
    # Same steps, same arithmetic: equal to the last bits but for the order in
    # which TensorFlow's threads finish (seen: 4e-15 once on CI). A different step
    # sequence would differ by ~1e-8 at these tolerances, far above this bound.
    np.testing.assert_allclose(y10.numpy(), y1.numpy(), rtol=1e-13, atol=0)
    np.testing.assert_allclose(g10.numpy(), g1.numpy(), rtol=1e-13, atol=0)


def test_rms_error_norm_meets_the_tolerance_with_its_own_steps():
    # dy/dt = -y with a second, faster component: both error measures keep the
    # solution within the tolerance, and they choose different steps.
    y0 = tf.constant([1.0, 2.0], F64)
    rates = tf.constant([1.0, 7.0], F64)
    t = [0.0, 0.4, 1.0]
    exact = np.exp(-np.outer(t, rates.numpy())) * y0.numpy()
    nfe = {}
    for norm in odelayers.ERROR_NORMS:
        y, info = odelayers.odeint(
            lambda t, y: -rates * y, y0, t, rtol=1e-6, atol=1e-9, error_norm=norm, full_output=True
        )
        np.testing.assert_allclose(y.numpy(), exact, rtol=2e-5)
        nfe[norm] = int(info["nfe"])
    assert nfe["rms"] != nfe["tfp"], nfe


def test_dormand_prince_is_configured_by_options():
    options = SolverOptions(rtol=1e-5, atol=1e-8, max_num_steps=400, first_step=0.01)
    solver = odelayers.DormandPrince(options)
    assert solver.options == options
    result = solver.solve(lambda t, y: -y, 0.0, tf.constant([1.0], F64), solution_times=[1.0])
    np.testing.assert_allclose(result.states.numpy()[-1], np.exp(-1.0), rtol=1e-4)


@keras.saving.register_keras_serializable(package="odelayers_tests")
class Decay(keras.layers.Layer):
    """dh/dt = -h W, with one weight matrix."""

    def build(self, input_shape):
        self.w = self.add_weight(
            shape=(input_shape[-1], input_shape[-1]), initializer="glorot_uniform"
        )

    def call(self, h, t):
        return -ops_matmul(h, self.w) * (1.0 + t)


def ops_matmul(a, b):
    return keras.ops.matmul(a, b)


def test_odeblock_options_equal_keywords():
    keras.utils.set_random_seed(3)
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    by_options = odelayers.ODEBlock(Decay(), options=SolverOptions(method="rk4", num_steps=4))
    by_keywords = odelayers.ODEBlock(Decay(), method="rk4", num_steps=4)
    by_options.build(x.shape)
    by_keywords.build(x.shape)
    by_keywords.set_weights(by_options.get_weights())
    assert by_options.options == by_keywords.options
    np.testing.assert_array_equal(by_options(x).numpy(), by_keywords(x).numpy())
    with pytest.raises(ValueError, match="Valid: 'rms', 'tfp'"):
        odelayers.ODEBlock(Decay(), error_norm="max")


def test_odeblock_options_survive_a_keras_file(tmp_path):
    keras.utils.set_random_seed(4)
    options = SolverOptions(
        rtol=1e-5,
        atol=1e-7,
        error_norm="rms",
        max_num_steps=500,
        adjoint_norm="full",
    )
    model = keras.Sequential(
        [keras.Input((3,)), odelayers.ODEBlock(Decay(), t1=0.5, options=options)]
    )
    x = np.random.default_rng(1).normal(size=(5, 3)).astype("float32")
    path = tmp_path / "options.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.layers[0].options == options
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# ---- error_norm callables, min_step and max_step (dopri5) ---------------------------


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "tf.function"])
def test_callable_error_norm_controls_forward_and_adjoint_steps(compiled):
    # As torchdiffeq's test_norm: the norm sees the forward state's scaled error and,
    # under the seminorm adjoint, that of (state, adjoint). rms as a callable is "rms".
    rates, y0, seen = tf.constant([1.0, 7.0], F64), tf.constant([1.0, 2.0], F64), set()

    def user_rms(x):
        seen.add(int(x.shape[0]))
        return tf.sqrt(tf.reduce_mean(tf.square(x)))

    k = tf.Variable(1.0, dtype=F64)

    def solve(norm):
        with tf.GradientTape() as tape:
            ys, info = odelayers.odeint(
                lambda t, y: -k * rates * y,
                y0,
                [0.0, 1.0],
                rtol=1e-6,
                atol=1e-9,
                error_norm=norm,
                full_output=True,
            )
            loss = tf.reduce_sum(ys[-1])
        return ys[-1], info["nfe"], tape.gradient(loss, k)

    run = tf.function(solve, autograph=False) if compiled else solve
    (y_rms, nfe_rms, g_rms), (y_user, nfe_user, g_user) = run("rms"), run(user_rms)
    assert seen == {2, 4}
    assert int(nfe_user) == int(nfe_rms)
    np.testing.assert_allclose(y_user.numpy(), y_rms.numpy(), rtol=1e-14)
    np.testing.assert_allclose(float(g_user), float(g_rms), rtol=1e-12)
    # The max norm is at least the RMS: more steps, still within the tolerance.
    y_max, nfe_max, g_max = run(lambda x: tf.reduce_max(tf.abs(x)))
    assert int(nfe_max) > int(nfe_rms)
    np.testing.assert_allclose(y_max.numpy(), np.exp(-rates.numpy()) * y0.numpy(), rtol=1e-5)
    exact = -np.sum(rates.numpy() * y0.numpy() * np.exp(-rates.numpy()))
    assert float(g_max) == pytest.approx(exact, rel=1e-5)


@pytest.mark.parametrize("gradient", ["adjoint", "backprop"])
def test_max_step_caps_every_step(gradient):
    k = tf.Variable(0.5, dtype=F64)
    with tf.GradientTape() as tape:
        ys, info = odelayers.odeint(
            lambda t, y: -k * y,
            tf.ones([1], F64),
            [0.0, 2.0],
            max_step=0.05,
            gradient=gradient,
            full_output=True,
        )
        y1 = ys[-1, 0]
    _, free = odelayers.odeint(
        lambda t, y: -0.5 * y, tf.ones([1], F64), [0.0, 2.0], full_output=True
    )
    assert int(info["nfe"]) >= 6 * 40 > int(free["nfe"])  # 2 / 0.05 steps of six evaluations
    assert float(ys[-1, 0]) == pytest.approx(np.exp(-1.0), rel=1e-9)
    assert float(tape.gradient(y1, k)) == pytest.approx(-2.0 * np.exp(-1.0), rel=1e-8)


def test_min_step_stops_a_blow_up_and_leaves_a_smooth_solve_alone():
    # dy/dt = y^2, y(0) = 1 blows up at t = 1: the steps shrink below min_step.
    with pytest.raises(odelayers.errors.ODESolverError, match=r"fell below min_step=0\.001"):
        odelayers.odeint(lambda t, y: y**2, tf.ones([1], F64), [0.0, 2.0], min_step=1e-3)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"fell below min_step=0\.001"):
        tf.function(
            lambda: odelayers.odeint(
                lambda t, y: y**2, tf.ones([1], F64), [0.0, 2.0], min_step=1e-3
            )
        )()
    # A flat start proposes a tiny first step (1e-6): raised to min_step, not refused.
    ys = odelayers.odeint(
        lambda t, y: t * tf.ones_like(y),
        tf.zeros([1], F64),
        [0.0, 1.0],
        min_step=0.01,
        rtol=1e-8,
        atol=1e-10,
    )
    assert float(ys[-1, 0]) == pytest.approx(0.5, rel=1e-8)


@pytest.mark.parametrize(
    "kwargs, text",
    [
        (dict(method="rk4", num_steps=4, max_step=0.1), "apply to method='dopri5' only"),
        (dict(min_step=0.1, max_step=0.01), "min_step=0.1 must not exceed max_step=0.01"),
        (dict(min_step=-1.0), "min_step must be a positive finite number"),
    ],
)
def test_step_bounds_are_checked(kwargs, text):
    with pytest.raises(ValueError, match=re.escape(text)):
        SolverOptions(**kwargs)
