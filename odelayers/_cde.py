"""Neural controlled differential equations (Kidger et al. 2020) on ``odeint``."""

from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from odelayers import _interpolation, _validate
from odelayers._odeint import odeint
from odelayers._options import FIXED_STEP_METHODS, SolverOptions

_PATH = "_odelayers_cde_"  # prefix of the path's coefficients among odeint's constants


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
    path = {_PATH + k: v for k, v in _interpolation.coefficients(knots, filled, kind).items()}
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
        return tf.linalg.matvec(field, _interpolation.derivative(coeffs.pop("knots"), coeffs, s))

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
    if value in _interpolation.INTERPOLATIONS:
        return value
    raise ValueError(f"Unknown interpolation {value!r}; valid: {_interpolation.INTERPOLATIONS}.")


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
