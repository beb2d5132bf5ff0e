"""``BDF``: TensorFlow Probability's backward differentiation formulas, for stiff problems."""

import tensorflow as tf
import tensorflow_probability as tfp

from odelayers._solvers import messages


class BDF(tfp.math.ode.BDF):
    """Variable-order BDF (TFP). It forms the dense Jacobian of the whole state,
    batch included: for small systems, not image-sized states."""

    name, order = "bdf", 5
    summary = "backward differentiation formulas, adaptive, for stiff problems (TFP)"
    adaptive, step_bounds, uncounted_evaluations = True, False, 0
    gradients, jit_gradients = ("adjoint",), ()  # XLA cannot compile its Jacobians
    eager_trace = True  # eagerly TFP's Jacobians (pfor) retrace at every evaluation

    def __init__(self, options):
        super().__init__(rtol=options.rtol, atol=options.atol, first_step_size=options.first_step,
                         max_num_steps=options.max_num_steps, name="bdf")  # fmt: skip

    @classmethod
    def from_options(cls, options, span):
        return cls(options)

    def _solve(self, *args, **kwargs):
        results = super()._solve(*args, **kwargs)
        failed = messages.check(
            tf.equal(results.diagnostics.status, 0),
            f"bdf gave up after max_num_steps={self._max_num_steps} steps before reaching "
            "the end time. Raise max_num_steps or loosen rtol/atol.",
        )
        with tf.control_dependencies([failed]):
            return results._replace(states=tf.nest.map_structure(tf.identity, results.states))
