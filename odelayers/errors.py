"""Exceptions raised by odelayers.

Invalid arguments raise the built-in ``ValueError`` / ``TypeError`` with a
message that names the argument and what to change. The classes below cover
the two situations that are not a wrong argument value.
"""


class ODESolverError(RuntimeError):
    """A solve failed: too many steps, an underflowed step size, or a NaN/Inf state.

    Raised directly when the solve runs eagerly. Inside a compiled function
    (``tf.function``, ``model.fit``) TensorFlow reports the same message as a
    ``tf.errors.InvalidArgumentError``, because errors inside a graph can only
    be raised as TensorFlow errors. The message always starts with
    ``"odelayers:"`` and says what to change.
    """


class UnsupportedBackendError(RuntimeError):
    """The ODE solvers need Keras' TensorFlow backend and another one is active."""
