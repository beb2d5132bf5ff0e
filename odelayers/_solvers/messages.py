"""Solver failure messages, with their numbers filled in, eagerly and in graphs."""

import string

import tensorflow as tf

from odelayers.errors import MESSAGE_MARKER, ODESolverError

# Significant digits of a number in a message: enough to tell the time reached
# from the end time (1.000001 vs 1), no more than the dtype resolves.
_DIGITS = {tf.float16: 4, tf.bfloat16: 3, tf.float32: 7, tf.float64: 10}


def _as_text(value):
    value = tf.convert_to_tensor(value)
    if value.dtype.is_integer:
        return tf.strings.as_string(value)
    digits = _DIGITS.get(value.dtype, 7)
    return tf.strings.as_string(tf.cast(value, tf.float64), precision=digits, shortest=True)


def format_message(template: str, **values):
    """``template`` with its ``{name}`` fields filled from ``values``, as one string tensor
    (Assert's data list prints each value in brackets on later lines, which readers drop)."""
    pieces = []
    for literal, field, _, _ in string.Formatter().parse(f"{MESSAGE_MARKER} {template}"):
        if literal:
            pieces.append(tf.constant(literal))
        if field:
            pieces.append(_as_text(values[field]))
    return tf.strings.join(pieces)


def check(condition, template: str, describe=None, **values):
    """Stop the solve with ``template`` (fields filled in) unless ``condition`` holds.

    Eagerly: raises ``ODESolverError``. In a graph: an assertion whose message is built
    only on failure (under XLA, which cannot compile strings, a plain assertion).
    ``describe()`` returns further fields, computed only on failure.
    """

    def message():
        return format_message(template, **values, **(describe() if describe else {}))

    if tf.executing_eagerly():
        if not bool(condition):
            raise ODESolverError(message().numpy().decode())
        return tf.no_op()
    if tf.__internal__.get_enclosing_xla_context() is not None:
        return tf.debugging.Assert(condition, [f"{MESSAGE_MARKER} {template}"])
    return tf.cond(condition, tf.no_op, lambda: tf.debugging.Assert(condition, [message()]))


# TFP's adjoint uses tf.while_loop(back_prop=False), whose deprecation warning
# is about TFP's code, not the user's.
tf.get_logger().addFilter(lambda record: "back_prop=False is deprecated" not in record.getMessage())
