"""Exceptions raised by odelayers.

Invalid arguments raise the built-in ``ValueError`` / ``TypeError`` with a
message that names the argument and what to change. The classes below cover
the two situations that are not a wrong argument value.
"""

import re

#: Every solver failure message starts with this marker, so that the message
#: can be found again in the text of the TensorFlow error a graph raises.
MESSAGE_MARKER = "odelayers:"


class ODESolverError(RuntimeError):
    """A solve failed: too many steps, an underflowed step size, or a NaN/Inf state.

    Raised directly when the solve runs eagerly. Inside a compiled function
    (``tf.function``, ``model.fit``) TensorFlow reports the same message as a
    ``tf.errors.InvalidArgumentError``, because errors inside a graph can only
    be raised as TensorFlow errors. The message always starts with
    ``"odelayers:"`` and says what to change.
    """


def solver_message(text: str) -> str | None:
    """The solver failure message inside a TensorFlow error's text, or ``None``.

    Inside a compiled function a solver that gives up can only fail a
    TensorFlow assertion; its text reads ``assertion failed: [odelayers: ...]``
    with the strings C-escaped. This returns the message as
    :class:`ODESolverError` would carry it: one line, without TensorFlow's
    brackets and escapes.
    """
    start = text.find(MESSAGE_MARKER)
    if start < 0:
        return None
    line = text[start:].split("\n")[0]
    line = line.replace("\\'", "'").replace('\\"', '"')  # method=\'bdf\' -> method='bdf'
    return re.sub(r"\]\s*\[", " ", line).strip("[] ")


class UnsupportedBackendError(RuntimeError):
    """The ODE solvers need Keras' TensorFlow backend and another one is active."""
