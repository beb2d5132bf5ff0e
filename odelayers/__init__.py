"""Neural ODE layers for Keras 3 on TensorFlow Probability's ODE solvers.

``odeint(func, y0, t)`` solves an initial value problem; ``ODEBlock(dynamics, t0, t1)`` is the
Keras layer (``dynamics``: a layer whose ``call(h, t)`` returns dh/dt)."""

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
    available_methods,
)
from odelayers._solvers.dormand_prince import DormandPrince  # noqa: E402

try:
    __version__ = _metadata.version("neural-ode-iceberg")
except _metadata.PackageNotFoundError:
    __version__ = "0+unknown"

__all__ = ["CDEBlock", "ADJOINT_NORMS", "DEFAULT_MAX_NUM_STEPS", "ERROR_NORMS", "FIXED_STEP_METHODS",
           "GRADIENTS", "METHODS", "ConcatConv2D", "ConcatDense", "DormandPrince",
           "GroupNormalization", "ODEBlock", "SolverOptions", "available_methods", "cdeint",
           "errors", "fill_missing", "odeint", "odeint_event"]  # fmt: skip
