"""Neural controlled differential equations (Kidger et al. 2020) on ``odeint``."""

from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from odelayers import _interpolation, _validate
from odelayers._odeint import odeint
from odelayers._options import FIXED_STEP_METHODS, SolverOptions

_PATH = "_odelayers_cde_"  # prefix of the path's entries in odeint's constants


def cdeint(
    func,
    z0,
    t,
    x,
    interpolation="hermite",
    *,
    t_eval=None,
    constants=None,
    options=None,
    full_output=False,
    **overrides,
):
    """Solve ``dz = func(t, z) dX(t)``, ``z(t[0]) = z0``, with ``X`` interpolating ``x``.

    That is ``dz/dt = func(t, z) @ dX/dt`` over ``[t[0], t[-1]]``, solved by
    ``odelayers.odeint``; the spline's coefficients are ``odeint`` constants, so
    both gradient modes differentiate ``z0``, ``x``, ``constants`` and the
    variables ``func`` reads.

    Args:
        func: ``func(t, z) -> [B, H, C]`` (or ``func(t, z, **constants)``).
        z0: the initial state ``[B, H]``.
        t: the observation times ``[T]``, strictly increasing (irregular allowed).
        x: the observations ``[B, T, C]``; NaN where missing, filled as
            ``fill_missing`` does (without its extra channels).
        interpolation: ``"linear"``; ``"hermite"``, cubic Hermite with backward
            differences (Morrill et al. 2021: causal, the path up to ``t_k`` uses
            observations up to ``t_k``); ``"natural"``, the natural cubic spline.
        t_eval: ``None`` to return ``z(t[-1])`` ``[B, H]``, or increasing times
            within ``[t[0], t[-1]]`` to return ``[len(t_eval), B, H]``.
        constants, options, full_output, **overrides: as for ``odeint``.
            Fixed-step methods step from knot to knot, by default with
            ``step_size`` the smallest observation gap. Adaptive methods are not
            told the knots, where a cubic path's higher derivatives jump.
    """
    z0 = tf.convert_to_tensor(z0)
    if z0.shape.rank != 2:
        raise ValueError(f"z0 must be the initial state [batch, hidden], got shape {z0.shape}.")
    x = _observations(x, z0.dtype)
    knots, static = _knots(t, x, z0.dtype)
    kind = _interpolation_kind(interpolation)
    gap = None if static is None else float(np.min(np.diff(static)))
    options = solver_options(options, overrides, gap)
    filled = fill_missing(knots, x, time_channel=False, observed_count=False)
    path = {_PATH + k: v for k, v in _interpolation.coefficients(knots, filled, kind).items()}
    path[_PATH + "knots"] = knots
    times, pick = _output_times(knots, static, t_eval, options.is_fixed_step)

    def dynamics(s, z, **given):
        coeffs = {k[len(_PATH) :]: given.pop(k) for k in list(given) if k.startswith(_PATH)}
        field = func(s, z, **given)
        if field.shape.rank != 3 or field.shape[-1] != x.shape[-1]:
            raise ValueError(
                f"func must return [batch, hidden, channels] = [B, {z.shape[-1]}, "
                f"{x.shape[-1]}] (one column per channel of x), got shape {field.shape}."
            )
        rate = _interpolation.derivative(coeffs.pop("knots"), coeffs, s)
        return tf.linalg.matvec(field, tf.cast(rate, field.dtype))

    states, info = odeint(
        dynamics,
        z0,
        times,
        constants={**(constants or {}), **path},
        options=options,
        full_output=True,
    )
    states = states[-1] if pick is None else tf.gather(states, pick)
    return (states, info) if full_output else states


def fill_missing(t, x, *, time_channel=True, observed_count=True):
    """``x [B, T, C]`` with NaN filled, and optionally the channels of Kidger et al. 2020, 3.3.

    A missing value takes the channel's latest observation, a leading run of NaN
    the first observation, and a channel never observed is 0. The result is
    ``[B, T, C']``: the time ``t`` (if ``time_channel``), the ``C`` filled channels,
    then (if ``observed_count``) per channel the number of its observations so far.
    """
    x = _observations(x, None)
    observed = tf.transpose(~tf.math.is_nan(x), [0, 2, 1])  # [B, C, T]
    length = tf.shape(x)[1]
    # The observed indices, in order, ahead of the missing ones; a time's value
    # comes from the observation numbered (its count so far - 1).
    order = tf.argsort(tf.where(observed, tf.range(length), length), axis=-1, stable=True)
    count = tf.cumsum(tf.cast(observed, tf.int32), axis=-1)
    source = tf.gather(order, tf.maximum(count - 1, 0), batch_dims=2)
    values = tf.where(tf.math.is_nan(x), tf.zeros_like(x), x)
    filled = tf.gather(tf.transpose(values, [0, 2, 1]), source, batch_dims=2)
    parts = [tf.transpose(filled, [0, 2, 1])]
    if time_channel:
        t = tf.cast(tf.reshape(t, [1, -1, 1]), x.dtype)
        parts.insert(0, tf.broadcast_to(t, tf.shape(x[..., :1])))
    if observed_count:
        parts.append(tf.transpose(tf.cast(count, x.dtype), [0, 2, 1]))
    return tf.concat(parts, -1) if len(parts) > 1 else parts[0]


def solver_options(options, overrides, gap):
    """``SolverOptions.resolve``, a fixed-step method defaulting to ``step_size=gap``."""
    if isinstance(options, Mapping):
        options, overrides = None, {**options, **overrides}
    base = options if isinstance(options, SolverOptions) else SolverOptions()
    method = str(overrides.get("method", base.method)).lower()
    stepped = {"step_size", "num_steps"} & set(overrides) or base.is_fixed_step
    if method in FIXED_STEP_METHODS and not stepped and gap is not None:
        overrides = {**overrides, "step_size": gap}
    return SolverOptions.resolve(options, **overrides)


def _observations(x, dtype):
    x = tf.convert_to_tensor(x, dtype_hint=dtype)
    if x.shape.rank != 3:
        raise ValueError(
            f"x must be the observations [batch, times, channels], got shape {x.shape}. "
            "A single channel needs its own axis: x[..., None]."
        )
    if dtype is not None and x.dtype != dtype:
        x = tf.cast(x, dtype)
    if not x.dtype.is_floating:
        raise ValueError(f"x must be floating point (NaN marks a missing value), got {x.dtype}.")
    return x


def _knots(t, x, dtype):
    knots, static = _validate.times(t, dtype)
    count = knots.shape[0]
    if count < 2 or (static is not None and static[-1] < static[0]):
        raise ValueError(
            f"t must hold at least two strictly increasing observation times, got {static}."
        )
    if x.shape[1] is not None and x.shape[1] != count:
        raise ValueError(
            f"t has {count} times but x has {x.shape[1]} observations (axis 1); "
            "give one time per observation."
        )
    if static is None:
        check = tf.debugging.assert_greater(knots[1:], knots[:-1], "t must be increasing.")
        with tf.control_dependencies([check]):
            knots = tf.identity(knots)
    return tf.stop_gradient(knots), static


def _interpolation_kind(value):
    if value not in _interpolation.INTERPOLATIONS:
        raise ValueError(
            f"Unknown interpolation {value!r}. Valid: {', '.join(_interpolation.INTERPOLATIONS)}."
        )
    return value


def _output_times(knots, static, t_eval, fixed_step):
    """``(times for odeint, indices of the outputs or None for the last)``.

    Fixed-step methods also stop at every knot, so no step straddles one.
    """
    if static is None:
        if t_eval is not None:
            raise ValueError("t_eval needs the observation times t known while tracing.")
        return tf.stack([knots[0], knots[-1]]), None
    ends = [static[0], static[-1]]
    wanted = ends[1:] if t_eval is None else _validate.block_times(*ends, t_eval)[2]
    times = np.union1d(static if fixed_step else ends[:1], wanted)
    pick = np.searchsorted(times, wanted)
    return times, (None if t_eval is None else pick)
