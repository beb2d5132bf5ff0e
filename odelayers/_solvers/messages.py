"""What the solvers tell the user: failure messages and TensorFlow's log noise."""

from __future__ import annotations

import logging
import string

import tensorflow as tf

from odelayers.errors import MESSAGE_MARKER, ODESolverError

# Significant digits a number is printed with: enough to tell the time reached
# from the end time (1.000001 vs 1), no more than the dtype resolves.
_DIGITS = {tf.float16: 4, tf.bfloat16: 3, tf.float32: 7, tf.float64: 10}


def graph_assert(condition, message, *data):
    """A graph-safe assertion whose message starts with the package marker."""
    return tf.debugging.Assert(condition, [f"{MESSAGE_MARKER} {message}", *data], summarize=8)


def _as_text(value):
    """A scalar number as a string tensor (``%g`` style, see ``_DIGITS``)."""
    value = tf.convert_to_tensor(value)
    if value.dtype.is_integer:
        return tf.strings.as_string(value)
    digits = _DIGITS.get(value.dtype, 7)
    return tf.strings.as_string(tf.cast(value, tf.float64), precision=digits, shortest=True)


def format_message(template: str, **values):
    """``template`` with its ``{name}`` fields replaced by ``values``, a string tensor.

    Built from string pieces with ``tf.strings.join`` instead of handing the
    numbers to ``tf.debugging.Assert`` as data: Assert prints its data after
    the message, each in brackets ("Reached t =] [0.018"), and an eager
    Assert puts them on later lines, which the first-line readers drop.
    """
    pieces = []
    for literal, field, _, _ in string.Formatter().parse(f"{MESSAGE_MARKER} {template}"):
        if literal:
            pieces.append(tf.constant(literal))
        if field:
            pieces.append(_as_text(values[field]))
    return tf.strings.join(pieces)


def _in_xla_graph() -> bool:
    """Whether the ops built now will be compiled by XLA (``jit_compile=True``)."""
    return tf.__internal__.get_enclosing_xla_context() is not None


def check(condition, template: str, describe=None, **values):
    """Stop the solve with ``template`` (numbers filled in) unless ``condition`` holds.

    Eagerly: raises ``ODESolverError`` at once. In a graph: an assertion
    whose message is built only when it fails (inside the false branch of a
    ``tf.cond``), so a passing check costs one predicate. Under XLA, which
    drops assertions and cannot compile string operations, a plain
    assertion. Use the result in ``tf.control_dependencies``.

    ``values`` fill the fields; ``describe()``, when given, returns more of
    them and runs only on failure (for numbers that cost work to find).
    """

    def message():
        return format_message(template, **values, **(describe() if describe else {}))

    if tf.executing_eagerly():
        if not bool(condition):
            raise ODESolverError(message().numpy().decode())
        return tf.no_op()
    if _in_xla_graph():
        return graph_assert(condition, template)

    def fail():
        return tf.debugging.Assert(condition, [message()])

    return tf.cond(condition, tf.no_op, fail)


class _DropAdjointDeprecationWarning(logging.Filter):
    """Drop TF's deprecation note about the ``back_prop=False`` TFP uses.

    TFP's adjoint runs ``tf.while_loop(..., back_prop=False)``, which makes
    TensorFlow print a multi-line deprecation warning on the first gradient.
    It is about TFP's code, not the user's, so it is dropped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "back_prop=False is deprecated" not in record.getMessage()


tf.get_logger().addFilter(_DropAdjointDeprecationWarning())
