"""Backend check and the lazy TensorFlow imports of the package.

``import odelayers`` must work under every Keras backend (the time-aware
blocks are plain ``keras.ops`` code), while the solvers are TensorFlow
Probability code. So the solver modules are imported on first use, after
checking that Keras runs on TensorFlow.
"""

from __future__ import annotations

import keras

from odelayers.errors import UnsupportedBackendError


def require_tensorflow(what: str) -> None:
    """Raise ``UnsupportedBackendError`` unless Keras runs on TensorFlow.

    Args:
        what: what the user tried to use, for the message (e.g. ``"ODEBlock"``).
    """
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise UnsupportedBackendError(
            f"odelayers: {what} runs on TensorFlow Probability's ODE solvers and "
            f"needs Keras' TensorFlow backend, but Keras is running on {backend!r}. "
            "Set the environment variable KERAS_BACKEND=tensorflow before Python "
            "imports keras. (ConcatConv2D and ConcatDense work on any backend.)"
        )
