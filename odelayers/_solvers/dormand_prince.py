"""Adaptive Dormand-Prince 5(4), with its adjoint's backward solver.

Adapts ``DormandPrince._solve`` and ``DormandPrince._step`` of TensorFlow
Probability's ``python/math/ode/dormand_prince.py`` (tensorflow_probability
0.25, Copyright The TensorFlow Probability Authors, Apache License 2.0):
the changes are listed in ``DormandPrince``'s docstring and marked inline.
"""

from __future__ import annotations

import functools

import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow_probability.python.math.ode import dormand_prince as _tfp_dopri
from tensorflow_probability.python.math.ode import runge_kutta_util as _rk_util

from odelayers._options import SolverOptions
from odelayers._solvers import messages
from odelayers._solvers.first_step import select_initial_step
from odelayers._solvers.stage_sums import runge_kutta_step, stage_sum
from odelayers._solvers.step_control import all_finite, error_ratio, next_step_size


class DormandPrince(tfp.math.ode.DormandPrince):
    """``tfp.math.ode.DormandPrince`` with these changes.

    * ``first_step=None`` picks the first step with Hairer's algorithm (one
      extra evaluation) instead of TFP's fixed 1e-3.
    * A trial step whose error estimate is NaN/Inf (the dynamics overflowed
      on a too-long step) is rejected and the step shrunk, as in SciPy and
      torchdiffeq, instead of turning the step size into NaN.
    * Giving up (more than ``max_num_steps`` steps, or a step size so small
      that ``t + dt == t``) raises an error that says what to change; a
      non-finite initial state or derivative is reported at once.
    * The adjoint's backward solve controls its error over the state and its
      adjoint only (``adjoint_norm="seminorm"``, Kidger, Chen & Lyons 2021,
      "Hey, that's not an ODE"), not over the parameter-gradient integrals,
      which nothing else depends on. TFP's own adjoint uses the full norm
      (``adjoint_norm="full"``), which takes 1.6-3.7x the backward steps on
      an ODE-Net block at rtol = atol from 1e-2 to 1e-4 (``benchmarks/README.md``).
    * Each stage state is one sum ``y0 + sum((dt a_ij) k_j)`` with the
      tableau in the state's dtype (TFP's rounds it to float32, which caps
      float64 solves near 1e-8 relative error), computed in one XLA-fused
      pass for large states inside graphs, and an accepted or rejected
      step keeps its states without copying them: fewer passes over the
      state per step.
    * The dense-output (interpolation) coefficients are computed only for
      the step that crosses an output time, not after every trial step
      (~30 passes over the state saved per step); the results are the same
      (``lazy_dense_output=False``: after every step, as TFP).
    * The solver loops run with ``parallel_iterations=1`` by default: TF's
      10 lets later iterations start early and keep their state-sized
      buffers alive, which doubles the peak memory of a training step and
      makes it vary from run to run.

    * The error norm is the RMS norm of SciPy and torchdiffeq
      (``error_norm="rms"``, the default); ``error_norm="tfp"`` keeps TFP's.

    Everything else (tableau, step-size controller, interpolation, the
    adjoint equations) is TFP's.

    Args:
        rtol, atol: error tolerances; default: ``SolverOptions``' defaults.
        options: a ``SolverOptions`` whose dopri5 fields (``first_step``,
            ``max_num_steps``, ``adjoint_norm``, ``error_norm``,
            ``parallel_iterations``, ``lazy_dense_output``,
            ``fuse_min_elements``) configure the solver.
        **overrides: any of those fields by name.

    ``DormandPrince(rtol, atol, ...).solve(ode_fn, t0, y0, solution_times)``
    is TFP's ``Solver`` API (``tfp.math.ode.Results``), with TFP's adjoint
    as its gradient.
    """

    name = "dopri5"
    order = 5
    summary = "Dormand-Prince 5(4), adaptive (TFP), the default"

    def __init__(self, rtol=None, atol=None, options=None, **overrides):
        tolerances = {k: v for k, v in (("rtol", rtol), ("atol", atol)) if v is not None}
        options = SolverOptions.resolve(options, method="dopri5", **tolerances, **overrides)
        super().__init__(
            rtol=options.rtol,
            atol=options.atol,
            first_step_size=1e-3 if options.first_step is None else options.first_step,
            max_num_steps=None,  # enforced in _step with a better message
            make_adjoint_solver_fn=self._make_adjoint_solver,
            name="dopri5",
        )
        self._options = options
        self._first_step = options.first_step
        self._auto_first_step = options.first_step is None
        self._step_limit = options.max_num_steps

    @property
    def options(self) -> SolverOptions:
        """The settings of this solver."""
        return self._options

    def _make_adjoint_solver(self):
        return AdjointDormandPrince(options=self._options)

    @property
    def uncounted_evaluations(self):
        """Evaluations TFP's diagnostics leave out: f(t0, y0) and the first-step probe."""
        return 2 if self._auto_first_step else 1

    def _controlled(self, nest):
        """The part of the state whose local error the step-size controller bounds."""
        return nest

    def _initialize_solver_internal_state(self, ode_fn, initial_time, initial_state):
        return self._start(ode_fn, initial_time, initial_state)

    def _start(self, ode_fn, initial_time, initial_state):
        """Solver state at the start of a solve: f(t0, y0), checks, first step size."""
        state = super()._initialize_solver_internal_state(ode_fn, initial_time, initial_state)
        t0 = state.current_time
        checks = [
            messages.check(
                all_finite(state.current_state),
                "the ODE state contains NaN or Inf at the start of a solve at t = {t} (of "
                "the forward problem, or of the backward adjoint problem when computing "
                "gradients). What to change: check the inputs, the loss and the learning rate.",
                t=t0,
            ),
            messages.check(
                all_finite(state.current_derivative),
                "the dynamics returned NaN or Inf at the start of a solve at t = {t}. "
                "What to change: check the dynamics' weights (a diverged training?) and inputs.",
                t=t0,
            ),
        ]
        with tf.control_dependencies(checks):
            if not self._auto_first_step:
                return state._replace(step_size=tf.identity(state.step_size))
            step_size = select_initial_step(
                ode_fn,
                state.current_time,
                state.current_state,
                state.current_derivative,
                order=self.ORDER - 1,
                rtol=self._rtol,
                atol=self._atol,
                controlled=self._controlled,
            )
        return state._replace(step_size=step_size)

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
        # TFP's DormandPrince._solve (tensorflow_probability 0.25, Apache 2.0)
        # for given solution times, with the output time passed to _step (lazy
        # dense output) and loops with parallel_iterations=1.
        if isinstance(solution_times, tfp.math.ode.ChosenBySolver):
            return super()._solve(
                ode_fn,
                initial_time,
                initial_state,
                solution_times,
                previous_solver_internal_state=previous_solver_internal_state,
            )
        del jacobian_fn, jacobian_sparsity, batch_ndims
        with tf.name_scope(self._name):
            p = self._prepare_common_params(initial_state, initial_time)
            real = p.real_dtype
            step = functools.partial(
                self._step,
                max_ode_fn_evals=None,
                ode_fn=ode_fn,
                atol=tf.cast(self._atol, real),
                rtol=tf.cast(self._rtol, real),
                safety=tf.constant(self._safety_factor, real),
                ifactor=tf.constant(self._max_step_size_factor, real),
                dfactor=tf.constant(self._min_step_size_factor, real),
            )
            solver_state = previous_solver_internal_state
            if solver_state is None:
                solver_state = self._start(ode_fn, p.initial_time, p.initial_state)
            times = tf.cast(solution_times, real)
            num_times = times.shape[0] if times.shape[0] is not None else tf.size(times)
            arrays = tf.nest.map_structure(
                lambda shape, dtype: tf.TensorArray(dtype, size=num_times, element_shape=shape),
                p.state_shapes,
                p.state_dtypes,
            )
            diagnostics = _tfp_dopri._DopriDiagnostics(
                num_ode_fn_evaluations=0,
                num_jacobian_evaluations=0,
                num_matrix_factorizations=0,
                status=0,
            )

            # Without a target, _step computes the coefficients every step.
            lazy = self._options.lazy_dense_output

            def advance_to(time_id, solver_state, diagnostics, arrays):
                target = times[time_id]
                # As TFP: step until the current time is past the target, then
                # interpolate within the last step.
                solver_state, diagnostics = tf.while_loop(
                    lambda s, _: target >= s.current_time,
                    lambda s, d: step(s, d, target=target if lazy else None),
                    (solver_state, diagnostics),
                    parallel_iterations=self._options.parallel_iterations,
                )
                y = _rk_util.evaluate_interpolation(
                    solver_state.interpolating_coefficients,
                    solver_state.last_step_start,
                    solver_state.current_time,
                    target,
                )
                arrays = tf.nest.map_structure(lambda a, v: a.write(time_id, v), arrays, y)
                return time_id + 1, solver_state, diagnostics, arrays

            _, solver_state, diagnostics, arrays = tf.while_loop(
                lambda time_id, *_: time_id < num_times,
                advance_to,
                (0, solver_state, diagnostics, arrays),
                parallel_iterations=self._options.parallel_iterations,
            )
            states = tf.nest.map_structure(lambda a: a.stack(), arrays)
            return tfp.math.ode.Results(
                times=times,
                states=states,
                diagnostics=diagnostics,
                solver_internal_state=solver_state,
            )

    def _step(
        self,
        solver_state,
        diagnostics,
        max_ode_fn_evals,
        ode_fn,
        atol,
        rtol,
        safety,
        ifactor,
        dfactor,
        target=None,
    ):
        # TFP's DormandPrince._step (tensorflow_probability 0.25, Apache 2.0)
        # with the changes described in the class docstring. `target`: the
        # output time this step advances to (None: coefficients every step).
        y0, f0, _, t0, dt, interp_coeff = solver_state
        with tf.control_dependencies(self._give_up_checks(diagnostics, t0, dt)):
            y1, f1, y1_error, k = runge_kutta_step(
                ode_fn, y0, f0, t0, dt, _tfp_dopri._TABLEAU, self._options.fuse_min_elements
            )
        controlled = [self._controlled(x) for x in (y1_error, y0, y1)]
        ratio = error_ratio(*controlled, atol, rtol, self._options.error_norm)
        accept_step = ratio <= 1

        # A cond forwards the chosen tensors; a select would copy both states.
        y_next, f_next = tf.cond(accept_step, lambda: (y1, f1), lambda: (y0, f0))
        t_next = tf.where(accept_step, t0 + dt, t0)

        def coefficients():
            # TFP's rk_fourth_order_interpolation_coefficients, with the
            # midpoint formed by stage_sum (exact float64 weights).
            y_mid = stage_sum(y0, _tfp_dopri._TABLEAU.c_mid, k, dt, self._options.fuse_min_elements)
            return _rk_util._fourth_order_interpolation_coefficients(y0, y1, y_mid, k[0], k[-1], dt)

        if target is None:
            interp_coeff = _rk_util.nest_where(accept_step, coefficients(), interp_coeff)
        else:
            # Only the step that ends past the output time is interpolated in.
            interp_coeff = tf.cond(
                accept_step & (t0 + dt > target), coefficients, lambda: interp_coeff
            )
        dt_next = next_step_size(dt, self.ORDER, ratio, safety, dfactor, ifactor)
        solver_state = _tfp_dopri._RungeKuttaSolverInternalState(
            y_next, f_next, t0, t_next, dt_next, interp_coeff
        )
        diagnostics = diagnostics._replace(
            num_ode_fn_evaluations=diagnostics.num_ode_fn_evaluations + self.ODE_FN_EVALS_PER_STEP
        )
        return solver_state, diagnostics

    def _give_up_checks(self, diagnostics, t0, dt):
        """Assertions that stop a solve that cannot reach its end time."""
        per_step = self.ODE_FN_EVALS_PER_STEP
        steps = diagnostics.num_ode_fn_evaluations // per_step
        return [
            messages.check(
                steps < self._step_limit,
                f"dopri5 gave up after max_num_steps={self._step_limit} steps (accepted "
                "and rejected) before reaching the end time: reached t = {t} with step "
                "size {dt}. What to change: Raise max_num_steps, loosen rtol/atol, or use "
                "method='bdf' if the problem is stiff.",
                t=t0,
                dt=dt,
            ),
            messages.check(
                t0 + dt > t0,
                "dopri5 gave up: the step size underflowed (t + dt == t) at t = {t} with "
                f"step size {{dt}} after {{steps}} steps (max_num_steps={self._step_limit}). "
                "The dynamics may blow up in finite time near there, return NaN/Inf "
                "there, or be stiff. What to change: check the dynamics, loosen "
                "rtol/atol, or use method='bdf'.",
                t=t0,
                dt=dt,
                steps=steps,
            ),
        ]


class AdjointDormandPrince(DormandPrince):
    """The solver of TFP's backward adjoint problem.

    Its state is TFP's augmented tuple ``(state, adjoint, parameter
    integrals, constant integrals)``. With ``adjoint_norm="seminorm"`` the
    step-size controller bounds the error of the first two only.

    TFP initialises the backward solve once before its loop over output
    intervals and again (``_adjust_solver_internal_state_for_state_jump``) at
    the start of every interval, discarding the first. The first is
    therefore a placeholder here: it saves two evaluations of the augmented
    system (a dynamics evaluation and its vector-Jacobian product each).
    """

    def _controlled(self, nest):
        if self._options.adjoint_norm == "seminorm":
            return nest[:2]
        return nest

    def _initialize_solver_internal_state(self, ode_fn, initial_time, initial_state):
        del ode_fn
        p = self._prepare_common_params(initial_state, initial_time)
        return _tfp_dopri._RungeKuttaSolverInternalState(
            current_state=p.initial_state,
            current_derivative=tf.nest.map_structure(tf.zeros_like, p.initial_state),
            last_step_start=p.initial_time,
            current_time=p.initial_time,
            step_size=tf.constant(
                1e-3 if self._first_step is None else self._first_step, p.real_dtype
            ),
            interpolating_coefficients=[p.initial_state] * self.ORDER,
        )

    def _adjust_solver_internal_state_for_state_jump(
        self, ode_fn, initial_time, initial_state, previous_solver_internal_state, previous_state
    ):
        del previous_solver_internal_state, previous_state
        return self._start(ode_fn, initial_time, initial_state)
