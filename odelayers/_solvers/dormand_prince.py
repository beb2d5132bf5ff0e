"""Adaptive Dormand-Prince 5(4) and the solver of its adjoint's backward problem.

Adapts ``DormandPrince._solve`` and ``_step`` of TensorFlow Probability's
``python/math/ode/dormand_prince.py`` (tensorflow_probability 0.25, Copyright
The TensorFlow Probability Authors, Apache License 2.0).
"""

import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow_probability.python.math.ode import dormand_prince as _tfp_dopri
from tensorflow_probability.python.math.ode import runge_kutta_util as _rk_util

from odelayers import _tuning
from odelayers._solvers import messages
from odelayers._solvers import runge_kutta as rk


class DormandPrince(tfp.math.ode.DormandPrince):
    """``tfp.math.ode.DormandPrince`` (and its adjoint), changed where TFP's falls short.

    Hairer's automatic first step; a trial step with a NaN/Inf error estimate is rejected and shrunk
    (as SciPy and torchdiffeq); giving up says what to change; the adjoint's seminorm (Kidger, Chen
    & Lyons 2021); the RMS error norm; stage sums in the state's dtype (TFP rounds the tableau to
    float32), XLA-fused for large states; interpolation only for steps that cross an output time.

    Args:
        options: an ``odelayers.SolverOptions`` (its dopri5 fields).
    """

    name, order = "dopri5", 5
    summary = "Dormand-Prince 5(4), adaptive (TFP), the default"
    adaptive = step_bounds = True
    eager_trace = False
    gradients = ("adjoint", "backprop")
    jit_gradients = ("adjoint",)  # XLA cannot differentiate its unbounded loops

    def __init__(self, options):
        super().__init__(
            rtol=options.rtol, atol=options.atol, name="dopri5",
            first_step_size=1e-3 if options.first_step is None else options.first_step,
            max_num_steps=None,  # enforced in _step with a better message
            make_adjoint_solver_fn=lambda: AdjointDormandPrince(options),
        )  # fmt: skip
        self.options = options

    @classmethod
    def from_options(cls, options, span):
        return cls(options)

    @property
    def uncounted_evaluations(self):
        """Evaluations TFP's diagnostics leave out: f(t0, y0) and the first-step probe."""
        return 2 if self.options.first_step is None else 1

    def _controlled(self, nest):
        """The part of the state whose local error the step-size controller bounds."""
        return nest

    def _initialize_solver_internal_state(self, ode_fn, initial_time, initial_state):
        return self._start(ode_fn, initial_time, initial_state)

    def _start(self, ode_fn, initial_time, initial_state):
        """Solver state at the start of a solve: f(t0, y0), checks, first step size."""
        state = super()._initialize_solver_internal_state(ode_fn, initial_time, initial_state)
        t0 = state.current_time

        def nonfinite(x, what):
            return messages.check(
                rk.all_finite(x),
                f"{what} NaN or Inf at the start of a solve at t = {{t}} (the backward adjoint "
                "solve's, when computing gradients). What to change: check the inputs, the "
                "dynamics' weights (a diverged training?) and the learning rate.",
                t=t0,
            )

        checks = [
            nonfinite(state.current_state, "the ODE state contains"),
            nonfinite(state.current_derivative, "the dynamics returned"),
        ]
        with tf.control_dependencies(checks):
            h = tf.identity(state.step_size)
            if self.options.first_step is None:
                y0, f0 = state.current_state, state.current_derivative
                h = rk.initial_step(
                    ode_fn, t0, y0, f0, self.ORDER - 1, self._rtol, self._atol, self._controlled
                )
        if self.options.min_step:  # a short first guess is no failure yet
            h = tf.maximum(h, tf.constant(self.options.min_step, h.dtype))
        return state._replace(step_size=h)

    def _solve(self, ode_fn, initial_time, initial_state, solution_times, **kwargs):
        # TFP's, passing the output time to _step (lazy dense output).
        if isinstance(solution_times, tfp.math.ode.ChosenBySolver):
            return super()._solve(ode_fn, initial_time, initial_state, solution_times, **kwargs)
        p = self._prepare_common_params(initial_state, initial_time)
        real = p.real_dtype
        tolerances = [tf.cast(self._atol, real), tf.cast(self._rtol, real)]
        factors = (self._safety_factor, self._max_step_size_factor, self._min_step_size_factor)
        controls = [*tolerances, *[tf.constant(f, real) for f in factors]]

        def step(state, diagnostics, target):
            return self._step(state, diagnostics, None, ode_fn, *controls, target=target)

        solver_state = kwargs.get("previous_solver_internal_state")
        if solver_state is None:
            solver_state = self._start(ode_fn, p.initial_time, p.initial_state)
        times = tf.cast(solution_times, real)
        num_times = times.shape[0] if times.shape[0] is not None else tf.size(times)
        arrays = tf.nest.map_structure(
            lambda shape, dtype: tf.TensorArray(dtype, size=num_times, element_shape=shape),
            p.state_shapes,
            p.state_dtypes,
        )
        diagnostics = _tfp_dopri._DopriDiagnostics(0, 0, 0, 0)
        lazy, parallel_iterations = _tuning.LAZY_DENSE_OUTPUT, _tuning.PARALLEL_ITERATIONS

        def advance_to(time_id, state, diagnostics, arrays):
            # Step until past the output time, then interpolate within the last step.
            target = times[time_id]
            state, diagnostics = tf.while_loop(
                lambda s, _: target >= s.current_time,
                lambda s, d: step(s, d, target=target if lazy else None),
                (state, diagnostics),
                parallel_iterations=parallel_iterations,
                # XLA drops the give-up assertions: this bound still ends the loop.
                maximum_iterations=self.options.max_num_steps + 1,
            )
            y = _rk_util.evaluate_interpolation(
                state.interpolating_coefficients, state.last_step_start, state.current_time, target
            )
            reached = target < state.current_time  # else NaN, never a wrong number
            y = tf.nest.map_structure(lambda v: tf.where(reached, v, float("nan")), y)
            arrays = tf.nest.map_structure(lambda a, v: a.write(time_id, v), arrays, y)
            return time_id + 1, state, diagnostics, arrays

        _, solver_state, diagnostics, arrays = tf.while_loop(
            lambda time_id, *_: time_id < num_times, advance_to,
            (0, solver_state, diagnostics, arrays), parallel_iterations=parallel_iterations,
        )  # fmt: skip
        states = tf.nest.map_structure(lambda a: a.stack(), arrays)
        return tfp.math.ode.Results(times, states, diagnostics, solver_state)

    def _step(self, state, diagnostics, max_ode_fn_evals, ode_fn, atol, rtol, safety, ifactor,
              dfactor, target=None):  # fmt: skip
        # TFP's signature (TFP calls it by keyword). `target`: the output time this step
        # advances to (None: interpolation coefficients after every step, as TFP).
        y0, f0, _, t0, dt, interp_coeff = state
        if self.options.max_step:
            dt = tf.minimum(dt, tf.constant(self.options.max_step, dt.dtype))
        fuse = _tuning.FUSE_MIN_ELEMENTS
        with tf.control_dependencies(self._give_up_checks(diagnostics, t0, dt)):
            y1, f1, y1_error, k = rk.runge_kutta_step(
                ode_fn, y0, f0, t0, dt, _tfp_dopri._TABLEAU, fuse
            )
        controlled = [self._controlled(x) for x in (y1_error, y0, y1)]
        ratio = rk.error_ratio(*controlled, atol, rtol, self.options.error_norm)
        accept = ratio <= 1
        # A cond forwards the chosen tensors; a select would copy both states.
        y_next, f_next = tf.cond(accept, lambda: (y1, f1), lambda: (y0, f0))

        def coefficients():
            y_mid = rk.stage_sum(y0, _tfp_dopri._TABLEAU.c_mid, k, dt, fuse)
            return _rk_util._fourth_order_interpolation_coefficients(y0, y1, y_mid, k[0], k[-1], dt)

        if target is None:
            interp_coeff = _rk_util.nest_where(accept, coefficients(), interp_coeff)
        else:  # only the step that ends past the output time is interpolated in
            interp_coeff = tf.cond(accept & (t0 + dt > target), coefficients, lambda: interp_coeff)
        dt_next = rk.next_step_size(dt, self.ORDER, ratio, safety, dfactor, ifactor)
        state = _tfp_dopri._RungeKuttaSolverInternalState(
            y_next, f_next, t0, tf.where(accept, t0 + dt, t0), dt_next, interp_coeff
        )
        evaluations = diagnostics.num_ode_fn_evaluations + self.ODE_FN_EVALS_PER_STEP
        return state, diagnostics._replace(num_ode_fn_evaluations=evaluations)

    def _give_up_checks(self, diagnostics, t0, dt):
        """Assertions that stop a solve that cannot reach its end time."""
        steps = diagnostics.num_ode_fn_evaluations // self.ODE_FN_EVALS_PER_STEP
        limit, min_step = self.options.max_num_steps, self.options.min_step
        rules = [
            (
                steps < limit,
                f"dopri5 gave up after max_num_steps={limit} steps (accepted and rejected) "
                "before reaching the end time: reached t = {t} with step size {dt}. What to "
                "change: Raise max_num_steps, loosen rtol/atol, or use method='bdf' if the "
                "problem is stiff.",
            ),
            (
                t0 + dt > t0,
                "dopri5 gave up: the step size underflowed (t + dt == t) at t = {t} with step "
                f"size {{dt}} after {{steps}} steps (max_num_steps={limit}). The dynamics may "
                "blow up in finite time near there, return NaN/Inf there, or be stiff. What to "
                "change: check the dynamics, loosen rtol/atol, or use method='bdf'.",
            ),
        ]
        if min_step is not None:
            rules.append((
                dt >= min_step,
                f"dopri5 gave up: the step size {{dt}} fell below min_step={min_step:g} at "
                "t = {t}. The dynamics may blow up or be stiff there. What to change: lower "
                "min_step, loosen rtol/atol, or use method='bdf'.",
            ))  # fmt: skip
        return [messages.check(ok, text, t=t0, dt=dt, steps=steps) for ok, text in rules]


class AdjointDormandPrince(DormandPrince):
    """The solver of TFP's backward adjoint problem, whose state is the tuple
    ``(state, adjoint, parameter integrals, constant integrals)``.

    TFP initialises the backward solve before its loop over output intervals
    and again at the start of each interval, discarding the first: a
    placeholder here, which saves two evaluations of the augmented system.
    """

    def _controlled(self, nest):
        return nest[:2] if self.options.adjoint_norm == "seminorm" else nest

    def _initialize_solver_internal_state(self, ode_fn, initial_time, initial_state):
        p = self._prepare_common_params(initial_state, initial_time)
        y, t = p.initial_state, p.initial_time  # f(t, y) is not needed: zeros
        h = tf.constant(self.options.first_step or 1e-3, p.real_dtype)
        f = tf.nest.map_structure(tf.zeros_like, y)
        return _tfp_dopri._RungeKuttaSolverInternalState(y, f, t, t, h, [y] * self.ORDER)

    def _adjust_solver_internal_state_for_state_jump(
        self, ode_fn, initial_time, initial_state, previous_solver_internal_state, previous_state
    ):
        del previous_solver_internal_state, previous_state
        return self._start(ode_fn, initial_time, initial_state)
