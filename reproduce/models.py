"""The three models of the reproduction, importable in one place.

* :func:`build_dense` -- the report's dense network (appendix 7.1.2);
* :func:`build_resnet` -- the report's residual CNN (appendix 7.2.2);
* :func:`build_odenet` -- the residual CNN with its residual blocks replaced by
  a Neural ODE block (section 4).

Each returns a compiled Keras model with the R scripts' settings; the keyword
``semantics`` (default ``"keras22"``) picks what the loss and the batch
normalisation compute: R keras' Keras 2.2 or Keras 3 (:mod:`reproduce.keras22`). Importing
this module imports Keras (and TensorFlow), quietly.
"""

from reproduce.dense import build_dense
from reproduce.odenet import ResidualBranchDynamics, build_odenet
from reproduce.resnet import build_resnet, r_style_accuracy

__all__ = [
    "build_dense",
    "build_resnet",
    "build_odenet",
    "ResidualBranchDynamics",
    "r_style_accuracy",
]
