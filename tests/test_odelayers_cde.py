"""Neural CDEs: ``cdeint``, ``fill_missing`` and ``CDEBlock`` against references we did not write.

With one channel and a linear field the CDE ``dz = A z dX`` has the solution
``expm(A (X_T - X_0)) z0`` whatever the path between. Otherwise the paths are rebuilt
with SciPy (``CubicSpline``, ``CubicHermiteSpline`` from the backward-difference
definition, ``np.interp``'s chords) and ``solve_ivp`` integrates ``dz/dt = f(z) X'(t)``.
"""

import functools
import os
import re

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.interpolate  # noqa: E402
import scipy.linalg  # noqa: E402
import tensorflow as tf  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

import odelayers  # noqa: E402

KINDS = ("linear", "hermite", "natural")
TIGHT = dict(rtol=1e-10, atol=1e-12)
RNG = np.random.default_rng(0)
T = np.array([0.0, 0.3, 1.1, 1.5, 2.7])  # irregular observation times
X = RNG.normal(size=(2, 5, 2))
Z0 = RNG.normal(size=(2, 3))
A = 0.5 * RNG.normal(size=(3, 3))
W = 0.4 * RNG.normal(size=(3, 3, 2))  # the field f(z) = tanh(W z): [H, H, C]


def cdeint(*args, **kwargs):
    """``odelayers.cdeint`` in a ``tf.function`` (as ``fit`` runs it; eagerly it is slow)."""
    return tf.function(lambda: odelayers.cdeint(*args, **kwargs))()


def linear_field(t, z):
    return tf.einsum("ij,bj->bi", tf.constant(A), z)[..., None]


def tanh_field(t, z, w=W):
    return tf.tanh(tf.einsum("hjc,bj->bhc", tf.cast(w, z.dtype), z))


def expm_solution(x):
    return np.stack([scipy.linalg.expm(A * (b[-1, 0] - b[0, 0])) @ z for b, z in zip(x, Z0)])


def scipy_path_derivative(kind, t, x):
    """``X'(s)`` ``[C]`` of one series ``x [T, C]``, built without odelayers."""
    if kind == "natural":
        return scipy.interpolate.CubicSpline(t, x, bc_type="natural").derivative()
    if kind == "hermite":  # the derivative at knot k is the backward difference
        slopes = np.diff(x, axis=0) / np.diff(t)[:, None]
        dydx = np.vstack([slopes[:1], slopes])
        return scipy.interpolate.CubicHermiteSpline(t, x, dydx).derivative()

    def chord_slope(s):  # np.interp at two points inside the interval holding s
        k = min(np.searchsorted(t, s, side="right") - 1, len(t) - 2)
        a, b = t[k] + 0.25 * (t[k + 1] - t[k]), t[k] + 0.75 * (t[k + 1] - t[k])
        return np.array([np.interp(b, t, c) - np.interp(a, t, c) for c in x.T]) / (b - a)

    return chord_slope


def scipy_solution(kind, t, x, times):
    """``z`` at ``times`` ``[len(times), B, H]`` by ``solve_ivp``, knot to knot."""
    out = []
    for z, series in zip(Z0, x):
        rate = scipy_path_derivative(kind, t, series)
        trajectory = {}
        for a, b in zip(t[:-1], t[1:]):
            inside = sorted({b, *(u for u in times if a <= u <= b)})
            sol = solve_ivp(
                lambda s, z, rate=rate: np.tanh(np.einsum("hjc,j->hc", W, z)) @ rate(s),
                (a, b), z, method="DOP853", rtol=1e-12, atol=1e-12, t_eval=inside,
            )  # fmt: skip
            trajectory.update(zip(inside, sol.y.T))
            z = sol.y[:, -1]
        out.append([trajectory[u] for u in times])
    return np.transpose(np.array(out), [1, 0, 2])


@pytest.mark.parametrize("kind", KINDS)
def test_one_channel_linear_field_is_expm_of_the_increment(kind):
    x = X[..., :1]
    z = cdeint(linear_field, tf.constant(Z0), T, x, kind, **TIGHT)
    np.testing.assert_allclose(z.numpy(), expm_solution(x), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind", KINDS)
def test_matches_solve_ivp_of_the_equivalent_ode(kind):
    t_eval = [0.2, 0.7, 1.5, 2.7]
    z = cdeint(tanh_field, Z0, T, X, kind, t_eval=t_eval, **TIGHT)
    assert z.shape == (4, 2, 3)
    np.testing.assert_allclose(z.numpy(), scipy_solution(kind, T, X, t_eval), atol=1e-7)


def test_linear_path_is_invariant_under_reparametrising_time():
    z = cdeint(tanh_field, Z0, T, X, "linear", **TIGHT)
    warped = cdeint(tanh_field, Z0, np.expm1(T) + T**2, X, "linear", **TIGHT)
    np.testing.assert_allclose(warped.numpy(), z.numpy(), atol=1e-8)


def test_fixed_steps_default_to_the_smallest_gap_and_land_on_the_knots():
    x, exact = X[..., :1], expm_solution(X[..., :1])
    rk4 = functools.partial(odelayers.cdeint, linear_field, Z0, T, x, method="rk4")  # eager: fast
    z, info = rk4("hermite", full_output=True)
    explicit = rk4("hermite", step_size=0.3)
    np.testing.assert_array_equal(z.numpy(), explicit.numpy())
    assert int(info["nfe"]) == 4 * (1 + 3 + 2 + 4)  # ceil(gap / 0.3) steps per gap
    for kind in ("hermite", "natural"):  # cubic between knots: rk4 keeps its 4th order
        errors = [np.abs(rk4(kind, step_size=h) - exact).max() for h in (0.1, 0.05)]
        assert errors[1] < errors[0] / 12, (kind, errors)


GRADIENT_CASES = [
    pytest.param("hermite", dict(method="rk4", step_size=0.1), 5e-3, id="hermite-rk4"),
    *(pytest.param(k, TIGHT, 1e-5, id=f"{k}-dopri5", marks=pytest.mark.slow) for k in KINDS),
]


@pytest.mark.parametrize("kind, solver, adjoint_rel", GRADIENT_CASES)
def test_gradients_match_central_differences(kind, solver, adjoint_rel):
    """Directional derivatives w.r.t. z0, x and the field's weights, both gradient modes.

    Central differences (step 1e-4) divide the solver's error by their step: they take
    dopri5 at rtol=1e-12, or the same rk4 map (smooth in its inputs)."""
    probe = tf.constant(RNG.normal(size=(2, 3)))
    w = tf.Variable(W)
    fd_solver = solver if "method" in solver else dict(rtol=1e-12, atol=1e-14)
    run = tf.function if "method" not in solver else (lambda f: f)  # rk4: eager is quicker

    def loss(z0, x, gradient="adjoint", options=solver):
        field = lambda t, z: tanh_field(t, z, w)  # noqa: E731
        z = odelayers.cdeint(field, z0, T, x, kind, gradient=gradient, **options)
        return tf.reduce_sum(probe * z)

    @run
    def gradients(z0, x, gradient):
        with tf.GradientTape() as tape:
            tape.watch([z0, x])
            value = loss(z0, x, gradient)
        return tape.gradient(value, [z0, x, w])

    args = [tf.constant(Z0), tf.constant(X)]
    directions = [RNG.normal(size=v.shape) for v in (Z0, X, W)]
    traced, eps, numeric = run(lambda z0, x: loss(z0, x, options=fd_solver)), 1e-4, []
    for i, v in enumerate(directions):
        sides = []
        for sign in (1.0, -1.0):
            moved = [a + sign * eps * v if j == i else a for j, a in enumerate(args)]
            w.assign(W + sign * eps * v if i == 2 else W)
            sides.append(float(traced(*moved)))
        numeric.append((sides[0] - sides[1]) / (2 * eps))
    w.assign(W)
    # rk4's adjoint integrates backwards with rk4: the map's gradient to O(h^4), not exactly.
    for gradient, rel in (("backprop", 1e-5), ("adjoint", adjoint_rel)):
        grads = gradients(*args, gradient)
        for name, g, v, expected in zip(("z0", "x", "w"), grads, directions, numeric):
            analytic = float(np.sum(g.numpy() * v))
            assert analytic == pytest.approx(expected, rel=rel), (gradient, name)


def test_fill_missing_on_a_hand_computed_case():
    nan = np.nan
    x = np.array([[[nan, nan], [2.0, nan], [nan, nan], [5.0, nan]]])  # channel 1 never seen
    t = [0.0, 1.0, 3.0, 4.0]
    filled = odelayers.fill_missing(t, x).numpy()[0]
    np.testing.assert_array_equal(filled[:, 0], t)  # the time channel first
    np.testing.assert_array_equal(filled[:, 1], [2.0, 2.0, 2.0, 5.0])  # back-, forward-filled
    np.testing.assert_array_equal(filled[:, 2], [0.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(filled[:, 3], [0.0, 1.0, 1.0, 2.0])  # observations so far
    np.testing.assert_array_equal(filled[:, 4], [0.0, 0.0, 0.0, 0.0])
    bare = odelayers.fill_missing(t, x, time_channel=False, observed_count=False)
    np.testing.assert_array_equal(bare.numpy()[0], filled[:, 1:3])


def test_missing_values_are_filled_inside_cdeint():
    x, by_hand = X.copy(), X.copy()
    x[0, 0, 1], x[0, 2, 0], x[1, 3:, 1] = np.nan, np.nan, np.nan
    by_hand[0, 0, 1], by_hand[0, 2, 0], by_hand[1, 3:, 1] = X[0, 1, 1], X[0, 1, 0], X[1, 2, 1]
    for kind in KINDS:
        z = odelayers.cdeint(
            tanh_field, np.vstack([Z0, Z0]), T, np.vstack([x, by_hand]), kind, method="rk4"
        )
        np.testing.assert_array_equal(z[:2].numpy(), z[2:].numpy())


@pytest.mark.parametrize(
    "change, phrase",
    [
        (dict(x=X[0]), "x[..., None]"),
        (dict(t=T[::-1].copy()), "strictly increasing"),
        (dict(t=[0.0, 1.1, 0.3, 1.5, 2.7]), "strictly increasing"),
        (dict(t=T[:4]), "give one time per observation"),
        (dict(interpolation="cubic"), "Unknown interpolation 'cubic'"),
        (dict(func=linear_field), "a column per channel of x"),
    ],
)
def test_bad_input_raises_one_clear_value_error(change, phrase):
    args = {**dict(func=tanh_field, z0=Z0, t=T, x=X, interpolation="hermite"), **change}
    with pytest.raises(ValueError, match=re.escape(phrase)):
        odelayers.cdeint(**args)


def cde_model(x, **kwargs):
    keras.utils.set_random_seed(0)
    inputs = keras.Input(x.shape[1:], dtype="float64")
    block = odelayers.CDEBlock(4, field_units=8, dtype="float64", **kwargs)
    return keras.Model(inputs, keras.layers.Dense(1, dtype="float64")(block(inputs)))


def test_cde_block_fits_logs_nfe_saves_and_takes_nan(tmp_path):
    x = np.cumsum(RNG.normal(size=(32, 4, 2)), axis=1)
    y = x[:, -1, :1] - x[:, 0, :1]  # the path's increment: what a CDE sees directly
    x[0, 2, 1], x[1, :2, 0] = np.nan, np.nan
    model = cde_model(x, times=[0.0, 0.5, 0.75, 1.0], method="rk4")
    model.compile(keras.optimizers.Adam(0.05), "mse")
    history = model.fit(x, y, epochs=4, batch_size=16, verbose=0).history
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["nfe"][-1] == 4 * (2 + 1 + 1)  # rk4, by default steps of the smallest gap
    predictions = model(x).numpy()
    assert np.all(np.isfinite(predictions))
    model.save(tmp_path / "cde.keras")
    loaded = keras.models.load_model(tmp_path / "cde.keras")
    np.testing.assert_array_equal(loaded(x).numpy(), predictions)


def test_cde_block_with_a_given_field_and_adaptive_solver_round_trips(tmp_path):
    x = RNG.normal(size=(4, 5, 2))
    field = keras.layers.Dense(4 * 2, activation="tanh", dtype="float64")
    model = cde_model(x, vector_field=field, interpolation="natural", times=T, rtol=1e-6)
    out = model.predict(x, verbose=0)
    model.save(tmp_path / "cde.keras")
    loaded = keras.models.load_model(tmp_path / "cde.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), out)
    assert loaded.layers[1].get_config()["interpolation"] == "natural"
    assert loaded.layers[1].options.rtol == 1e-6


@pytest.mark.parametrize(
    "kwargs, shape, phrase",
    [
        ({}, (None, 5), "[batch, times, channels]"),
        (dict(times=T), (None, 4, 2), "give one time per observation"),
        (dict(vector_field=keras.layers.Dense(3)), (None, 5, 2), "[B, hidden_units * channels]"),
        (dict(interpolation="spline"), (None, 5, 2), "Unknown interpolation"),
        (dict(times=[0.0, 2.0, 1.0]), (None, 3, 2), "strictly increasing"),
    ],
)
def test_cde_block_refuses_bad_input(kwargs, shape, phrase):
    with pytest.raises(ValueError, match=re.escape(phrase)):
        odelayers.CDEBlock(4, **kwargs).build(shape)


def test_cde_block_under_mixed_precision_solves_in_float32():
    x = RNG.normal(size=(4, 5, 2)).astype("float32")
    reference = odelayers.CDEBlock(4, field_units=8, method="rk4")
    expected = reference(x).numpy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        block = odelayers.CDEBlock(4, field_units=8, method="rk4")
        block.build(x.shape)
        block.set_weights(reference.get_weights())
        out = block(x)
        assert out.dtype == "float16"
        assert block.vector_field.compute_dtype == block.initial.compute_dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-2 * np.abs(expected).max())
