"""Neural controlled differential equations (Kidger et al. 2020) on ``odeint``."""

from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from odelayers import _validate
from odelayers._odeint import odeint
from odelayers._options import FIXED_STEP_METHODS, SolverOptions

_PATH = "_odelayers_cde_"  # prefix of the path's coefficients among odeint's constants
INTERPOLATIONS = ("linear", "hermite", "natural")


def cdeint(func, z0, t, x, interpolation="hermite", *, t_eval=None, constants=None,
           options=None, full_output=False, **overrides):  # fmt: skip
    """Solve ``dz = func(t, z) dX(t)`` (``dz/dt = func(t, z) @ dX/dt``), ``z(t[0]) = z0``.

    Args:
        func, z0: ``func(t, z) -> [B, H, C]`` (or ``func(t, z, **constants)``); ``z(t[0])``.
        t: the observation times ``[T]``, strictly increasing (irregular allowed).
        x: the observations ``[B, T, C]``, NaN where missing (filled as by ``fill_missing``,
            without its extra channels); differentiated, as are ``z0`` and ``constants``.
        interpolation: the path ``X``: ``"linear"``; ``"hermite"``, cubic Hermite with
            backward differences (Morrill et al. 2021: causal, ``X`` up to ``t_k`` uses
            observations up to ``t_k`` only); ``"natural"``, the natural cubic spline.
        t_eval: ``None`` to return ``z(t[-1])`` ``[B, H]``, or increasing times within
            ``[t[0], t[-1]]`` to return ``[len(t_eval), B, H]``.
        constants, options, full_output, **overrides: as for ``odeint``; fixed-step
            methods step knot to knot, by default with ``step_size`` the smallest gap of ``t``.
    """
    x = _observations(x, tf.convert_to_tensor(z0).dtype)
    knots, static = _knots(t, x.shape[1], x.dtype)
    kind = interpolation_kind(interpolation)
    options = solver_options(options, overrides, float(np.min(np.diff(static))))
    filled = fill_missing(knots, x, time_channel=False, observed_count=False)
    path = {_PATH + k: v for k, v in _path(knots, filled, kind).items()}
    wanted = static[-1:] if t_eval is None else _validate.block_times(*static[[0, -1]], t_eval)[2]
    times = np.union1d(static if options.is_fixed_step else static[:1], wanted)

    def dynamics(s, z, **given):
        coeffs = {k[len(_PATH) :]: given.pop(k) for k in list(given) if k.startswith(_PATH)}
        field = func(s, z, **given)
        if field.shape[1:] != z.shape[1:] + x.shape[-1:]:
            want = f"[B, {z.shape[-1]}, {x.shape[-1]}] (a column per channel of x)"
            raise ValueError(
                f"func must return [batch, hidden, channels] = {want}, got {field.shape}."
            )
        return tf.linalg.matvec(field, _path_derivative(coeffs.pop("knots"), coeffs, s))

    constants = {**(constants or {}), **path, _PATH + "knots": knots}
    out, info = odeint(dynamics, z0, times, constants=constants, options=options, full_output=True)
    out = out[-1] if t_eval is None else tf.gather(out, np.searchsorted(times, wanted))
    return (out, info) if full_output else out


def fill_missing(t, x, *, time_channel=True, observed_count=True):
    """``x [B, T, C]`` with NaN filled (by the channel's latest observation, a leading run by
    its first, a channel never observed by 0): ``[B, T, C']``, the time ``t`` first if
    ``time_channel``, the ``C`` channels, then if ``observed_count`` per channel its number
    of observations so far (Kidger et al. 2020, 3.3)."""
    x = _observations(x, None)
    observed = tf.transpose(~tf.math.is_nan(x), [0, 2, 1])  # [B, C, T]
    length = tf.shape(x)[1]  # observed indices in order, then missing ones:
    order = tf.argsort(tf.where(observed, tf.range(length), length), axis=-1, stable=True)
    count = tf.cumsum(tf.cast(observed, tf.int32), axis=-1)  # a value is observation count - 1
    source = tf.gather(order, tf.maximum(count - 1, 0), batch_dims=2)
    values = tf.transpose(tf.where(tf.math.is_nan(x), tf.zeros_like(x), x), [0, 2, 1])
    parts = [tf.transpose(tf.gather(values, source, batch_dims=2), [0, 2, 1])]
    if time_channel:
        parts.insert(0, tf.broadcast_to(tf.cast(t, x.dtype)[:, None], tf.shape(x[..., :1])))
    if observed_count:
        parts.append(tf.transpose(tf.cast(count, x.dtype), [0, 2, 1]))
    return tf.concat(parts, -1)


def solver_options(options, overrides, gap):
    """``SolverOptions.resolve``, a fixed-step method defaulting to ``step_size=gap``."""
    if isinstance(options, Mapping):
        options, overrides = None, {**options, **overrides}
    base = options if isinstance(options, SolverOptions) else SolverOptions()
    method = str(overrides.get("method", base.method)).lower()
    stepped = base.is_fixed_step or {"step_size", "num_steps"} & set(overrides)
    if method in FIXED_STEP_METHODS and not stepped:
        overrides = {**overrides, "step_size": gap}
    return SolverOptions.resolve(options, **overrides)


def interpolation_kind(value):
    if value in INTERPOLATIONS:
        return value
    raise ValueError(f"Unknown interpolation {value!r}; valid: {INTERPOLATIONS}.")


def _observations(x, dtype):
    x = tf.convert_to_tensor(x, dtype_hint=dtype)
    if x.shape.rank != 3 or not x.dtype.is_floating:
        fix = "A single channel needs its own axis: x[..., None]."
        raise ValueError(
            f"x must be floating [batch, times, channels], got {x.shape} {x.dtype.name}. {fix}"
        )
    return x if dtype is None else tf.cast(x, dtype)


def _knots(t, count, dtype):
    """``(t as a tensor, t as NumPy)``, checked against ``count`` observations."""
    knots, static = _validate.times(t, dtype)
    if static is None or len(static) < 2 or static[-1] < static[0]:
        known = "known while tracing (a list, array or constant)"
        raise ValueError(f"t must be two or more strictly increasing times, {known}, got {t!r}.")
    if count is not None and count != len(static):
        fix = "give one time per observation"
        raise ValueError(f"t has {len(static)} times but x has {count} (axis 1); {fix}.")
    return knots, static


# Paths through x [B, T, C] at knots t [T]: on [t_k, t_k+1] the cubic x_k + b u + c u^2 + d u^3
# (u = s - t_k), kept as its derivative's b, 2c, 3d (each [T-1, B, C]), all a CDE needs.
def _path(t, x, kind):
    """``{"b": ..., "c2": ..., "d3": ...}`` (linear: ``b`` only) of the path through ``x``."""
    x, h = tf.transpose(x, [1, 0, 2]), (t[1:] - t[:-1])[:, None, None]  # [T, B, C], [T-1, 1, 1]
    slope = (x[1:] - x[:-1]) / h
    if kind == "linear" or t.shape[0] == 2:  # two knots: every kind is the chord
        return {"b": slope}
    if kind == "hermite":
        # Backward differences (Morrill et al. 2021): the derivative at knot k is
        # slope k-1, known once x_k is observed, so the path up to t_k is causal.
        start, end = tf.concat([slope[:1], slope[:-1]], 0), slope
    else:  # from the natural spline's second derivatives M: zero at both ends
        rhs, off = 6 * (slope[1:] - slope[:-1]), tf.pad(h[1:-1, 0, 0], [[0, 1]])
        diagonals = tf.stack([off, 2 * (h[:-1, 0, 0] + h[1:, 0, 0]), tf.roll(off, 1, 0)])
        # One system, diagonally dominant (no pivoting); each (batch, channel) a right side.
        sides = tf.reshape(rhs, [t.shape[0] - 2, -1])
        m = tf.linalg.tridiagonal_solve(diagonals, sides, partial_pivoting=False)
        m = tf.pad(tf.reshape(m, tf.shape(rhs)), [[1, 1], [0, 0], [0, 0]])
        start, end = slope - h * (2 * m[:-1] + m[1:]) / 6, slope + h * (m[:-1] + 2 * m[1:]) / 6
    # The cubic with value and derivative (start, end) at both ends of each interval.
    c2, d3 = 2 * (3 * slope - 2 * start - end) / h, 3 * (start + end - 2 * slope) / h**2
    return {"b": start, "c2": c2, "d3": d3}


def _path_derivative(knots, coeffs, s):
    """``dX/dt`` at the scalar time ``s``, ``[B, C]`` (clamped to the first and last interval)."""
    s = tf.reshape(tf.cast(s, knots.dtype), [1, 1])
    # A one-hot contraction, not a gather: the adjoint sums dense gradients.
    pick = lambda k, c: tf.tensordot(tf.one_hot(k, knots.shape[0] - 1, dtype=s.dtype), c, 1)  # noqa: E731
    near = 64 * float(np.finfo(s.dtype.as_numpy_dtype).eps) * tf.reduce_max(tf.abs(knots))
    j, k = (tf.searchsorted(knots[None, 1:-1], s + d, "right")[0, 0] for d in (-near, near))
    if "c2" not in coeffs:
        # Near a knot the mean of the slopes either side: a fixed step's last stage there and
        # the next step's first err oppositely, cancelling to first order (rk4: 2nd order).
        return (pick(j, coeffs["b"]) + pick(k, coeffs["b"])) / 2
    b, c2, d3 = (pick(k, coeffs[name]) for name in ("b", "c2", "d3"))
    u = s[0, 0] - pick(k, knots[:-1])
    return b + u * (c2 + u * d3)
