"""Where a fixed-step solve's state became NaN or Inf, reported as a solver failure.

dopri5 rejects a step whose error estimate is not finite and gives up with a
message; a fixed-step method would carry NaN to its outputs silently. The
check looks at the final state only (NaN and Inf stay non-finite through
later steps): one pass over one state per solve and, inside a graph, one
predicate. Only when it fails is the solve re-run, one checked step at a time
over the first output interval that went non-finite, to name the step.
"""

from __future__ import annotations

import tensorflow as tf

from odelayers._solvers import messages
from odelayers._solvers.step_control import all_finite

_ADVICE = (
    "the ODE state became NaN or Inf in the step from t = {t_from} to "
    "t = {t_to} (step size {dt}; in the forward solve, or in the backward adjoint "
    "solve, whose times are negated, when computing gradients). The dynamics "
    "returned NaN/Inf or grew faster than this step size can follow. What to "
    "change: a smaller step_size (or more num_steps), the adaptive method "
    "'dopri5', or check the dynamics' weights and inputs (a diverged training? "
    "lower the learning rate)."
)


def _first_bad_step(method, func, y_start, t_start, dt, num_steps):
    """``(t_from, t_to)`` of the first step from ``(t_start, y_start)`` that ends non-finite.

    ``t_from == t_to == t_start`` when ``y_start`` itself is not finite.
    """

    def body(k, y):
        t = t_start + tf.cast(k, t_start.dtype) * dt
        return k + 1, method.step(func, t, y, dt)

    taken, _ = tf.while_loop(
        lambda k, y: (k < num_steps) & all_finite(y),
        body,
        (tf.constant(0, tf.int32), y_start),
    )
    t_to = t_start + tf.cast(taken, t_start.dtype) * dt
    t_from = t_start + tf.cast(tf.maximum(taken - 1, 0), t_start.dtype) * dt
    return t_from, t_to


def _locate(method, func, y0, intervals, outputs, dtype):
    """The fields of the message: the first output interval that went non-finite, re-run."""
    starts = [y0, *outputs[:-1]]
    finite = tf.stack([all_finite(y) for y in outputs])
    index = tf.argmin(tf.cast(finite, tf.int32), output_type=tf.int32)
    y_start = tf.nest.map_structure(lambda *leaves: tf.gather(tf.stack(leaves), index), *starts)

    def pick(column, cast_to):
        return tf.gather(tf.stack([tf.cast(row[column], cast_to) for row in intervals]), index)

    t_start, dt, num_steps = pick(0, dtype), pick(1, dtype), pick(2, tf.int32)
    t_from, t_to = _first_bad_step(method, func, y_start, t_start, dt, num_steps)
    return {"t_from": t_from, "t_to": t_to, "dt": dt}


def check_finite(method, func, y0, intervals, outputs):
    """``outputs`` after a check that the final one is finite (an error naming the step if not).

    Args:
        method: the fixed-step class (its ``name`` and ``step``).
        func: the dynamics, ``func(t, y)``.
        y0: the initial state.
        intervals: ``(t_start, dt, num_steps)`` of each output interval, as
            ``integrate_fixed`` stepped them (Python numbers or tensors).
        outputs: the state at the end of each interval.
    """
    dtype = tf.nest.flatten(y0)[0].dtype
    verdict = messages.check(
        all_finite(outputs[-1]),
        f"{method.name}: {_ADVICE}",
        describe=lambda: _locate(method, func, y0, intervals, outputs, dtype),
    )
    if tf.executing_eagerly():
        return outputs
    with tf.control_dependencies([verdict]):
        return [tf.nest.map_structure(tf.identity, y) for y in outputs]
