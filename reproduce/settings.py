"""The report's settings, defined once (plain Python, so ``--help`` shows the defaults at once)."""

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


#: The report's runs cut short: every image of R's split, fewer epochs. 4 epochs is
#: the shortest length at which the CNNs' mean stand-in test accuracy over training
#: seeds passes 80 %; a single run need not (one epoch's test accuracy swings while
#: the batch norms' moving statistics lag the weights).
QUICK = {
    "dense": QuickPreset(epochs=30, limit_train=None, limit_test=None),
    "resnet": QuickPreset(epochs=4, limit_train=None, limit_test=None),
    "odenet": QuickPreset(epochs=4, limit_train=None, limit_test=None),
}

#: The ODE-Net's solver: fixed-step rk4, two steps of 0.5 over [0, 1], backprop through
#: them, so a training step costs about the residual CNN's; the report's adaptive solver
#: with the adjoint is ``--method dopri5 --gradient adjoint`` (the tolerances are for it).
ODENET_SOLVER = SolverOptions(
    method="rk4", step_size=0.5, gradient="backprop", rtol=1e-3, atol=1e-3
)
#: Channels inside the ODE-Net's dynamics (the R residual branch has 128) and its kernel side.
ODENET_HIDDEN_CHANNELS = 32
ODENET_KERNEL_SIZE = 3

#: What ``compile(loss = "binary_crossentropy")`` and ``layer_batch_normalization``
#: compute: ``keras22`` as R keras did in 2019 (Keras 2.2 on TensorFlow 1.x,
#: :mod:`reproduce.keras22`), ``keras3`` as Keras 3 does today.
SEMANTICS = "keras22"
SEMANTICS_OPTIONS = ("keras22", "keras3")
