"""Exceptions of odelayers; invalid arguments raise ``ValueError``/``TypeError``."""

import re

#: Starts every solver failure message, found again in the text of a graph's error.
MESSAGE_MARKER = "odelayers:"


class ODESolverError(RuntimeError):
    """A solve failed: too many steps, an underflowed step size, or a NaN/Inf state.

    Raised eagerly; inside ``tf.function`` (``model.fit``) as ``tf.errors.InvalidArgumentError``
    with the same message, which starts with ``"odelayers:"`` and says what to change.
    """


class UnsupportedBackendError(RuntimeError):
    """Keras runs on a backend other than TensorFlow."""


def solver_message(text: str) -> str | None:
    """The solver failure message inside a TensorFlow error's text, or ``None``.

    Returns it as ``ODESolverError`` carries it: one line, without the
    brackets and C escapes of ``assertion failed: [odelayers: ...]``.
    """
    start = text.find(MESSAGE_MARKER)
    if start < 0:
        return None
    line = text[start:].split("\n")[0]
    line = line.replace("\\'", "'").replace('\\"', '"')  # method=\'bdf\' -> method='bdf'
    return re.sub(r"\]\s*\[", " ", line).strip("[] ")
