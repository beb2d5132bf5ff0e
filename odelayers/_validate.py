"""Checks of ``odeint``'s and ``ODEBlock``'s arguments besides ``SolverOptions``: each
raises ``ValueError`` or ``TypeError`` naming the argument and what to pass."""

import contextlib
import math
import numbers

import numpy as np
import tensorflow as tf

_FLOAT_DTYPES = (tf.float16, tf.bfloat16, tf.float32, tf.float64)


def initial_state(y0, t):
    """``y0`` as a floating tensor, or a nest (tuple, list, dict) of them of one dtype: a
    leaf converted as TensorFlow does, or to ``t``'s float dtype. Lists of plain numbers
    are one array; a sequence holding tensors or arrays is a nest."""
    leaves = tf.nest.flatten(y0)
    is_nest = isinstance(y0, dict) or (
        isinstance(y0, (list, tuple))
        and any(tf.is_tensor(x) or isinstance(x, (np.ndarray, tf.Variable)) for x in leaves)
    )
    if not is_nest:
        return _state(y0, t)
    if not leaves:
        raise ValueError(f"y0 must hold at least one tensor, got {y0!r}.")
    leaves = [_state(x, t) for x in leaves]
    if len({x.dtype for x in leaves}) > 1:
        raise TypeError("The tensors of a nested y0 must share one dtype, got "
                        f"{[x.dtype.name for x in leaves]}. Cast them, e.g. tf.cast(y, "
                        "tf.float32).")  # fmt: skip
    return tf.nest.pack_sequence_as(y0, leaves)


def _state(y0, t):
    if tf.is_tensor(y0) or isinstance(y0, tf.Variable):
        y0 = tf.convert_to_tensor(y0)
    else:
        try:
            as_array = np.asarray(y0)
        except ValueError:  # ragged (NumPy >= 1.24 raises instead of dtype=object)
            as_array = np.empty(0, dtype=object)
        if as_array.dtype == object:
            raise TypeError("y0 must be a tensor, an array of floats, or a tuple, list or dict "
                            f"of tensors (a nested state); got a ragged {type(y0).__name__} of "
                            "numbers.")  # fmt: skip
        if tf.is_tensor(t) and t.dtype.is_floating and as_array.dtype.kind in "fiu":
            y0 = tf.convert_to_tensor(as_array, dtype=t.dtype)
        else:
            y0 = tf.convert_to_tensor(y0)
    if y0.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"y0 has dtype {y0.dtype.name}; the ODE state must be floating point "
                        "(float16, bfloat16, float32 or float64). Cast it, e.g. tf.cast(y0, "
                        "tf.float32).")  # fmt: skip
    return y0


def times(t, dtype):
    """``(t_tensor, t_static)``: ``t`` checked, and as NumPy when known while tracing
    (times unknown then are checked inside the graph)."""
    static, t_tensor = None, None
    if tf.is_tensor(t) or isinstance(t, tf.Variable):
        t = tf.convert_to_tensor(t)
        if not (t.dtype.is_floating or t.dtype.is_integer):
            raise TypeError(f"t must hold numbers, got dtype {t.dtype.name}.")
        if t.dtype.is_floating and t.dtype != dtype:
            raise TypeError(f"t has dtype {t.dtype.name} but y0 has dtype {dtype.name}; they must "
                            f"match. Cast one of them, e.g. tf.cast(t, tf.{dtype.name}).")  # fmt: skip
        static, t_tensor = tf.get_static_value(t), tf.cast(t, dtype)
    # Not a namedtuple such as tfp.math.ode.ChosenBySolver, which NumPy reads as [t1].
    elif isinstance(t, (list, range, np.ndarray, numbers.Real)) or type(t) is tuple:
        with contextlib.suppress(ValueError, TypeError):
            static = np.asarray(t, dtype=np.float64)
    if static is None and t_tensor is None:
        raise TypeError("t must be the output times: a 1-D tensor, array or list of floats, "
                        f"e.g. [0.0, 1.0]; got {type(t).__name__}.")  # fmt: skip
    if static is not None:
        static = np.asarray(static, dtype=np.float64)
        if static.ndim != 1 or static.size == 0:
            raise ValueError(
                f"t must be a non-empty 1-D sequence of times, got shape {static.shape}."
            )
        if not np.all(np.isfinite(static)):
            raise ValueError(f"t must be finite, got {static.tolist()}.")
        steps = np.diff(static) * (1.0 if static[-1] >= static[0] else -1.0)
        if np.any(steps <= 0):
            i = int(np.argmax(steps <= 0))
            raise ValueError(f"t must be strictly increasing or strictly decreasing, but t[{i}] = "
                             f"{static[i]:g} and t[{i + 1}] = {static[i + 1]:g}. Sort the times "
                             "(and drop duplicates).")  # fmt: skip
        if t_tensor is None:
            t_tensor = tf.constant(static, dtype)
        return t_tensor, static
    if t_tensor.shape.rank != 1 or not t_tensor.shape[0]:
        known = "whose length is known while tracing"
        raise ValueError(f"t must be a non-empty 1-D tensor {known}, got shape {t_tensor.shape}.")
    steps = t_tensor[1:] - t_tensor[:-1]
    check = tf.debugging.Assert(
        tf.reduce_all(tf.math.is_finite(t_tensor))
        & (tf.reduce_all(steps > 0) | tf.reduce_all(steps < 0)),
        ["odelayers: t must be finite and strictly increasing or strictly decreasing."],
    )
    with tf.control_dependencies([check]):
        t_tensor = tf.identity(t_tensor)
    return t_tensor, None


# The finest rtol an adaptive solve in a 16-bit dtype resolves: about 10 units of the dtype's
# relative spacing; below it rounding swamps the error estimate and the step size collapses.
MIN_RTOL = {tf.float16: 1e-2, tf.bfloat16: 1e-1}
_DIGITS = {tf.float16: 3, tf.bfloat16: 2}


def tolerances(options, dtype):
    """Refuse tolerances an adaptive solve in a 16-bit ``dtype`` cannot resolve (``atol``
    must not round to zero either: the error estimate divides by it)."""
    floor = MIN_RTOL.get(dtype)
    if options.is_fixed_step or floor is None:
        return
    fix = (
        f"What to change: pass rtol >= {floor:g} for {dtype.name} states, or solve in "
        "float32: cast y0 and build the dynamics with dtype='float32'."
    )
    if options.rtol < floor:
        raise ValueError(f"rtol={options.rtol:g} is finer than {dtype.name} states can resolve "
                         f"({dtype.name} keeps about {_DIGITS[dtype]} significant digits), so the "
                         f"step-size control would fail (the step size underflows). {fix}")  # fmt: skip
    if float(tf.cast(options.atol, dtype)) == 0.0:
        raise ValueError(f"atol={options.atol:g} rounds to zero in {dtype.name}. {fix}")


def augment(value) -> int:
    """``augment``: a non-negative number of extra channels."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"augment must be a non-negative integer (extra channels), got {value!r}.")
    return int(value)


def block_times(t0, t1, t_eval):
    """``(t0, t1, t_eval)`` checked, as floats (``t_eval``: a tuple or ``None``)."""
    t0, t1 = _finite_number("t0", t0), _finite_number("t1", t1)
    if t1 <= t0:
        raise ValueError(f"t1 must be greater than t0, got t0={t0:g}, t1={t1:g}.")
    if t_eval is None:
        return t0, t1, None
    values = np.asarray(t_eval, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError(
            f"t_eval must be a non-empty 1-D sequence of finite times, got {t_eval!r}."
        )
    if np.any(np.diff(values) <= 0):
        raise ValueError(f"t_eval must be strictly increasing, got {values.tolist()}.")
    if values[0] < t0 or values[-1] > t1:
        raise ValueError(
            f"t_eval must lie within [t0, t1] = [{t0:g}, {t1:g}], got {values.tolist()}."
        )
    return t0, t1, tuple(float(v) for v in values)


def _finite_number(name, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")
    return float(value)


def trainable_t1(value, t_eval) -> bool:
    """``trainable_t1``: a bool, refused with ``t_eval`` (output times fixed in advance)."""
    if not isinstance(value, bool):
        raise TypeError(f"trainable_t1 must be True or False, got {value!r}.")
    if value and t_eval is not None:
        raise ValueError("trainable_t1=True cannot be combined with t_eval: the output times are "
                         "fixed while the learned t1 moves, so they could fall outside [t0, t1]. "
                         "Use t_eval=None (the block returns h(t1)), or keep t1 fixed to get a "
                         "trajectory.")  # fmt: skip
    return value
