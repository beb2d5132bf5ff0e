"""The three models, compiled with the R scripts' settings (``semantics``: ``keras22`` or ``keras3``).
Importing this module imports Keras (and TensorFlow), quietly."""

from reproduce.dense import build_dense
from reproduce.odenet import ResidualBranchDynamics, build_odenet
from reproduce.resnet import build_resnet, r_style_accuracy

__all__ = ["build_dense", "build_resnet", "build_odenet", "ResidualBranchDynamics",
           "r_style_accuracy"]  # fmt: skip
