"""Fixed-step methods behind TensorFlow Probability's ``Solver`` API (for its adjoint)."""

from __future__ import annotations

import collections

import tensorflow as tf
import tensorflow_probability as tfp

from odelayers._solvers.fixed_grid import integrate_fixed


class _FixedDiagnostics(
    collections.namedtuple(
        "_FixedDiagnostics",
        [
            "num_ode_fn_evaluations",
            "num_jacobian_evaluations",
            "num_matrix_factorizations",
            "status",
        ],
    ),
    tfp.math.ode.Diagnostics,
):
    """Diagnostics of a fixed-step solve (the ``tfp.math.ode.Diagnostics`` API)."""

    __slots__ = ()


class FixedGridSolver(tfp.math.ode.Solver):
    """A fixed-step method behind TFP's ``Solver`` API.

    TFP's ``Solver.solve`` implements the adjoint sensitivity method for any
    subclass, integrating the augmented system backwards with this same
    fixed-step method and step size. This is how fixed-step methods get
    ``gradient="adjoint"``.
    """

    def __init__(self, method, step_size):
        super().__init__(make_adjoint_solver_fn=None, validate_args=False, name=method.name)
        self._method = method
        self._step_size = step_size

    def _solve(
        self,
        ode_fn,
        initial_time,
        initial_state,
        solution_times,
        jacobian_fn=None,
        jacobian_sparsity=None,
        batch_ndims=None,
        previous_solver_internal_state=None,
    ):
        del jacobian_fn, jacobian_sparsity, batch_ndims, previous_solver_internal_state
        states, nfe = integrate_fixed(
            self._method, ode_fn, initial_state, initial_time, solution_times, self._step_size
        )
        times = tf.convert_to_tensor(solution_times, tf.nest.flatten(initial_state)[0].dtype)
        diagnostics = _FixedDiagnostics(
            num_ode_fn_evaluations=tf.convert_to_tensor(nfe, tf.int32),
            num_jacobian_evaluations=tf.constant(0, tf.int32),
            num_matrix_factorizations=tf.constant(0, tf.int32),
            status=tf.constant(0, tf.int32),
        )
        return tfp.math.ode.Results(
            times=times,
            states=states,
            diagnostics=diagnostics,
            solver_internal_state=tf.constant(0, tf.int32),
        )

    def _initialize_solver_internal_state(self, ode_fn, initial_time, initial_state):
        # A fixed-step solve carries no state from one interval to the next.
        return tf.constant(0, tf.int32)
