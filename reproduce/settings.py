"""The report's settings, defined once (plain Python: ``--help`` imports no TensorFlow)."""

import collections

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

QuickPreset = collections.namedtuple("QuickPreset", "epochs limit_train limit_test")
#: ``--quick``, a smoke test: every image of R's split, fewer epochs. The epochs are what
#: ``python -m reproduce quick-preset``'s rule, fixed before any run was looked at, gives on
#: training images held out from R's training split (never on the test images). The faithful
#: dense network learns nothing but the class shares, so one epoch is as good as any.
QUICK = {model: QuickPreset(epochs, None, None) for model, epochs in zip(MODELS, (1, 4, 2))}

#: ``odelayers.METHODS``, ``FIXED_STEP_METHODS`` and ``GRADIENTS``, spelled out so that
#: ``--help`` need not import TensorFlow (a test checks they stay equal).
METHODS = ("dopri5", "bdf", "euler", "midpoint", "rk4")
FIXED_STEP_METHODS = ("euler", "midpoint", "rk4")
GRADIENTS = ("adjoint", "backprop")
#: The ODE-Net's solver (``SolverOptions`` fields), as the report's section 4 describes it: an
#: adaptive solver with the adjoint, at the tolerances of Chen et al.'s ODE-Net (1e-3).
ODENET_SOLVER = dict(method="dopri5", step_size=None, gradient="adjoint", rtol=1e-3, atol=1e-3)
#: A fixed-step method's step when ``--step-size`` is not given: two steps over [0, 1].
FIXED_STEP_SIZE = 0.5
#: Channels inside the ODE-Net's dynamics (the R residual branch has 128) and its kernel side.
ODENET_HIDDEN_CHANNELS, ODENET_KERNEL_SIZE = 32, 3

#: What the loss and the batch normalisation compute: ``keras22`` as R keras did in 2019
#: (:mod:`reproduce.keras22`), ``keras3`` as Keras 3 does today.
SEMANTICS = "keras22"
SEMANTICS_OPTIONS = ("keras22", "keras3")
