"""Neural ODE layers for Keras 3 on TensorFlow Probability's ODE solvers.

y = odelayers.odeint(lambda t, y: -y, tf.ones([3]), [0.0, 0.5, 1.0])  # [3, 3]

class Dynamics(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = odelayers.ConcatDense(32, activation="tanh")
        self.out = odelayers.ConcatDense(3)

    def call(self, h, t):
        return self.out(self.hidden(h, t=t), t=t)

block = odelayers.ODEBlock(Dynamics(), t0=0.0, t1=1.0, augment=1)  # 2 + 1 channels
"""

from importlib import metadata as _metadata

import keras as _keras

from odelayers import errors

if _keras.backend.backend() != "tensorflow":
    raise errors.UnsupportedBackendError(
        "odelayers runs on TensorFlow Probability's ODE solvers and needs Keras' TensorFlow "
        f"backend, but Keras is running on {_keras.backend.backend()!r}. Set the environment "
        "variable KERAS_BACKEND=tensorflow before Python imports keras."
    )

from odelayers._blocks import ConcatConv2D, ConcatDense  # noqa: E402
from odelayers._cde import cdeint, fill_missing  # noqa: E402
from odelayers._events import odeint_event  # noqa: E402
from odelayers._group_norm import GroupNormalization  # noqa: E402
from odelayers._layers import CDEBlock, ODEBlock  # noqa: E402
from odelayers._odeint import odeint  # noqa: E402
from odelayers._options import (  # noqa: E402
    ADJOINT_NORMS,
    DEFAULT_MAX_NUM_STEPS,
    ERROR_NORMS,
    FIXED_STEP_METHODS,
    GRADIENTS,
    METHODS,
    SolverOptions,
)
from odelayers._solvers import SOLVERS as _SOLVERS  # noqa: E402
from odelayers._solvers.dormand_prince import DormandPrince  # noqa: E402

try:
    __version__ = _metadata.version("neural-ode-iceberg")
except _metadata.PackageNotFoundError:
    __version__ = "0+unknown"


def available_methods() -> dict:
    """``{method name: one-line description}``, sorted by name."""
    return {name: _SOLVERS[name].summary for name in sorted(_SOLVERS)}


__all__ = [
    "CDEBlock",
    "ADJOINT_NORMS",
    "DEFAULT_MAX_NUM_STEPS",
    "ERROR_NORMS",
    "FIXED_STEP_METHODS",
    "GRADIENTS",
    "METHODS",
    "ConcatConv2D",
    "ConcatDense",
    "DormandPrince",
    "GroupNormalization",
    "ODEBlock",
    "SolverOptions",
    "available_methods",
    "cdeint",
    "errors",
    "fill_missing",
    "odeint",
    "odeint_event",
]
