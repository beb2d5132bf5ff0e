"""What the solvers tell the user: failure messages and TensorFlow's log noise."""

from __future__ import annotations

import logging

import tensorflow as tf

# Every message of an error raised inside a graph starts with this marker, so
# an eager caller can turn TensorFlow's InvalidArgumentError back into an
# ODESolverError (see _odeint.py).
MESSAGE_MARKER = "odelayers:"


def graph_assert(condition, message, *data):
    """A graph-safe assertion whose message starts with the package marker."""
    return tf.debugging.Assert(condition, [f"{MESSAGE_MARKER} {message}", *data], summarize=8)


class _DropAdjointDeprecationWarning(logging.Filter):
    """Drop TF's deprecation note about the ``back_prop=False`` TFP uses.

    TFP's adjoint runs ``tf.while_loop(..., back_prop=False)``, which makes
    TensorFlow print a multi-line deprecation warning on the first gradient.
    It is about TFP's code, not the user's, so it is dropped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "back_prop=False is deprecated" not in record.getMessage()


tf.get_logger().addFilter(_DropAdjointDeprecationWarning())
