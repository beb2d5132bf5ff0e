"""``BDF``: TensorFlow Probability's backward differentiation formulas, for stiff problems."""

from __future__ import annotations

import tensorflow_probability as tfp

from odelayers._options import SolverOptions
from odelayers._solvers.messages import MESSAGE_MARKER


class BDF(tfp.math.ode.BDF):
    """``tfp.math.ode.BDF`` (variable-order backward differentiation) for stiff problems.

    It forms the dense Jacobian of the whole state (batch included), so it
    suits small systems (up to a few thousand numbers), not image-sized
    Neural ODE states. Gradients: adjoint only. Of ``options`` it reads
    ``rtol``, ``atol``, ``first_step`` and ``max_num_steps``.
    """

    name = "bdf"
    order = 5
    summary = "backward differentiation formulas, adaptive, for stiff problems (TFP)"
    uncounted_evaluations = 0

    def __init__(self, options: SolverOptions):
        super().__init__(
            rtol=options.rtol,
            atol=options.atol,
            first_step_size=options.first_step,
            max_num_steps=options.max_num_steps,
            name="bdf",
        )
        self._step_limit = options.max_num_steps

    def failure_message(self):
        """Message for a solve that returned ``status != 0``."""
        return (
            f"{MESSAGE_MARKER} bdf gave up after max_num_steps={self._step_limit} steps "
            "before reaching the end time. Raise max_num_steps or loosen rtol/atol."
        )
