"""The report's settings, defined once: the models, the split, epochs, batch size, the quick preset.

Everything here is plain Python (no TensorFlow), so ``--help`` can show the
defaults at once. The ODE-Net's own settings (solver, size of the dynamics)
are here too, as the one :class:`odelayers.SolverOptions` the command line
starts from.
"""

from __future__ import annotations

import dataclasses

from odelayers import SolverOptions

#: The report's models, in the report's order (and the order of ``all``).
MODELS = ("dense", "resnet", "odenet")

#: The R scripts' split: ``sample(1:1604, 1300)``.
R_N_RECORDS, R_N_TRAIN = 1604, 1300
#: ``fit(..., epochs = 150)`` in both R scripts.
EPOCHS = 150
#: R keras' ``fit()`` default ``batch_size``.
BATCH_SIZE = 32
#: ``set.seed(1)`` at the top of the dense script.
SEED = 1
#: R < 3.6's ``sample.kind``, what the report's author ran in March 2019.
SAMPLE_KIND = "Rounding"
SAMPLE_KINDS = ("Rounding", "Rejection")
#: ``r`` reproduces the R scripts' inputs bug for bug; ``corrected`` fixes them.
PREPROCESSINGS = ("r", "corrected")
#: The dense script has two independent bugs (its array() and its test scaling): these keep one
#: each, so that a comparison can say what each costs. The residual script has neither.
DENSE_PREPROCESSINGS = ("r", "r-array-only", "r-scaling-only", "corrected")


@dataclasses.dataclass(frozen=True)
class QuickPreset:
    """What ``--quick`` shrinks for one model: epochs and the images kept on each side of the split."""

    epochs: int
    limit_train: int | None  # None: every training image
    limit_test: int | None


#: Measured on 2 CPU cores shared with other work (TensorFlow 2.20, stand-in data):
#: ``python -m reproduce all --quick`` took 3 min 4 s in all, start-up included, at a
#: load of about 3 (dense 7 s, residual CNN 42 s, ODE-Net 87 s of training and
#: evaluation), and 7 min 31 s at a load of about 7 with a larger ODE dynamics.
#: The dense network is cheap, so it keeps every image; the CNNs cost 35-80 s per
#: full epoch here, so they train on a subset for a few epochs -- enough to show
#: the loss falling, not to learn.
QUICK = {
    "dense": QuickPreset(epochs=30, limit_train=None, limit_test=None),
    "resnet": QuickPreset(epochs=3, limit_train=320, limit_test=96),
    "odenet": QuickPreset(epochs=3, limit_train=320, limit_test=96),
}

#: The ODE-Net's solver (:mod:`reproduce.odenet` says why): dopri5 at a loose
#: tolerance (the classifier needs features, not an accurate trajectory) with
#: adjoint gradients, the report's section 4.1.2.
ODENET_SOLVER = SolverOptions(method="dopri5", rtol=1e-3, atol=1e-3, gradient="adjoint")
#: Channels inside the ODE-Net's dynamics (the R residual branch has 128) and its kernel side.
ODENET_HIDDEN_CHANNELS = 32
ODENET_KERNEL_SIZE = 3

#: What ``compile(loss = "binary_crossentropy")`` and ``layer_batch_normalization``
#: compute: ``keras22`` as R keras did in 2019 (Keras 2.2 on TensorFlow 1.x,
#: :mod:`reproduce.keras22`), ``keras3`` as Keras 3 does today.
SEMANTICS = "keras22"
SEMANTICS_OPTIONS = ("keras22", "keras3")
