"""Fixed-step methods: a ``FixedGridSolver`` subclass with its ``order``, evaluations per
step (``stages``) and one ``step``; TFP's adjoint integrates backwards with the same method."""

import math

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow_probability.python.math.ode import dormand_prince as _tfp_dopri

from odelayers import _tuning
from odelayers._solvers import messages
from odelayers._solvers.runge_kutta import all_finite, combine


class FixedGridSolver(tfp.math.ode.Solver):
    """Equal steps no longer than ``step_size`` between consecutive output times.

    Every output is a solver state (no interpolation), so a grid that fits (step 1 on [0, 4]) is
    followed exactly. A subclass defines ``step(func, t, y, dt)``, the state at ``t + dt``.
    """

    adaptive = step_bounds = eager_trace = False
    gradients = jit_gradients = ("adjoint", "backprop")
    uncounted_evaluations = 0

    def __init__(self, step_size):
        super().__init__(make_adjoint_solver_fn=None, validate_args=False, name=self.name)
        self._step_size = step_size

    @classmethod
    def from_options(cls, options, span):
        """The solver ``options`` describe, over output times ``span`` apart end to end."""
        return cls(options.step_size or span / options.num_steps)

    def _solve(self, ode_fn, initial_time, initial_state, solution_times, **unused):
        states, nfe = self.integrate(ode_fn, initial_state, initial_time, solution_times)
        zero = tf.constant(0, tf.int32)
        nfe = _tfp_dopri._DopriDiagnostics(tf.convert_to_tensor(nfe, tf.int32), zero, zero, zero)
        times = tf.convert_to_tensor(solution_times, tf.nest.flatten(initial_state)[0].dtype)
        return tfp.math.ode.Results(times, states, nfe, zero)

    def _initialize_solver_internal_state(self, ode_fn, initial_time, initial_state):
        return tf.constant(0, tf.int32)  # nothing carries over between intervals

    def integrate(self, func, y0, t_start, times):
        """``(states at each of times stacked, number of evaluations)``."""
        dtype = tf.nest.flatten(y0)[0].dtype
        if tf.is_tensor(times):
            static = tf.get_static_value(times)
            times = tf.unstack(times) if static is None else list(static)
        t_prev, h = _static(t_start), _static(self._step_size)
        intervals = []  # (start, step, number of steps) up to each output time
        for t_next in map(_static, times):
            span = t_next - t_prev
            num_steps = count_steps(span, h)
            if isinstance(num_steps, int):  # span and step size known while tracing
                dt = span / num_steps
            else:
                dt = tf.cast(span, dtype) / tf.cast(num_steps, dtype)
            intervals.append((t_prev, dt, num_steps))
            t_prev = t_next
        short = all(isinstance(n, int) and n <= _tuning.UNROLL_MAX_STEPS for *_, n in intervals)
        total_steps = sum(n for *_, n in intervals)
        if short and total_steps > _tuning.UNROLL_MAX_STEPS:
            states = self._advance_grid(func, y0, intervals, dtype)
        else:
            states, y = [], y0
            for t_prev, dt, num_steps in intervals:
                states.append(y := self._advance(func, y, t_prev, dt, num_steps, dtype))
        states = self._check_finite(func, y0, intervals, states, dtype)
        # One output: a reshape, whose gradient is free (tf.stack's copies).
        stack = (lambda y: tf.expand_dims(y, 0)) if len(states) == 1 else (lambda *y: tf.stack(y))
        return tf.nest.map_structure(stack, *states), total_steps * self.stages

    def _advance(self, func, y, t_start, dt, num_steps, dtype):
        """``num_steps`` steps of ``dt`` from ``(t_start, y)``; step k starts at t_start + k dt."""
        if isinstance(num_steps, int) and num_steps <= _tuning.UNROLL_MAX_STEPS:
            known = isinstance(dt, float)  # and so is t_start: step times summed in float64
            dt_tensor = tf.constant(dt, dtype) if known else dt
            for k in range(num_steps):
                t = tf.constant(t_start + k * dt, dtype) if known else t_start + k * dt
                y = self.step(func, t, y, dt_tensor)
            return y
        to_dtype = lambda v: tf.cast(tf.convert_to_tensor(v, dtype_hint=dtype), dtype)  # noqa: E731
        t_start, dt = to_dtype(t_start), to_dtype(dt)  # tf.cast(0.3, float64) rounds via float32
        return tf.while_loop(
            lambda k, _: k < num_steps,
            lambda k, y: (k + 1, self.step(func, t_start + tf.cast(k, dtype) * dt, y, dt)),
            (tf.constant(0, tf.int32), y),
            maximum_iterations=num_steps,
        )[1]

    def _advance_grid(self, func, y0, intervals, dtype):
        """The states after each of many short intervals known while tracing (a CDE's knot-to-knot
        grid), in one loop over all their steps: the graph does not grow with the intervals."""
        steps = [(t + k * dt, dt) for t, dt, n in intervals for k in range(n)]
        starts, widths = (tf.constant(column, dtype) for column in zip(*steps))
        leaves = tf.nest.flatten(y0)
        arrays = [tf.TensorArray(v.dtype, len(steps), element_shape=v.shape) for v in leaves]

        def body(k, y, arrays):
            y = self.step(func, starts[k], y, widths[k])
            return k + 1, y, [a.write(k, v) for a, v in zip(arrays, tf.nest.flatten(y))]

        arrays = tf.while_loop(lambda k, *_: k < len(steps), body, (0, y0, arrays),
                               maximum_iterations=len(steps))[2]  # fmt: skip
        ends = np.cumsum([n for *_, n in intervals]) - 1
        outputs = [tf.unstack(tf.gather(a.stack(), ends)) for a in arrays]
        return [tf.nest.pack_sequence_as(y0, list(row)) for row in zip(*outputs)]

    def _check_finite(self, func, y0, intervals, outputs, dtype):
        # NaN/Inf stay non-finite, so checking the last output catches any; only
        # on failure is the bad interval re-run step by step to name the step.
        verdict = messages.check(
            all_finite(outputs[-1]),
            f"{self.name}: the ODE state became NaN or Inf in the step from t = {{t_from}} "
            "to t = {t_to} (step size {dt}; the backward adjoint solve negates the times). "
            "What to change: a smaller step_size (or more num_steps), method 'dopri5', or "
            "check the dynamics' weights and inputs (a diverged training? lower the learning rate).",
            describe=lambda: self._first_bad_step(func, y0, intervals, outputs, dtype),
        )
        if tf.executing_eagerly():
            return outputs
        with tf.control_dependencies([verdict]):
            return [tf.nest.map_structure(tf.identity, y) for y in outputs]

    def _first_bad_step(self, func, y0, intervals, outputs, dtype):
        index = tf.argmin(tf.cast(tf.stack([all_finite(y) for y in outputs]), tf.int32))
        starts = [y0, *outputs[:-1]]
        y = tf.nest.map_structure(lambda *leaves: tf.gather(tf.stack(leaves), index), *starts)

        def pick(column, to):
            return tf.gather(tf.stack([tf.cast(row[column], to) for row in intervals]), index)

        t_start, dt, num_steps = pick(0, dtype), pick(1, dtype), pick(2, tf.int32)
        taken, _ = tf.while_loop(
            lambda k, y: (k < num_steps) & all_finite(y),
            lambda k, y: (k + 1, self.step(func, t_start + tf.cast(k, dtype) * dt, y, dt)),
            (tf.constant(0, tf.int32), y),
        )
        t_from = t_start + tf.cast(tf.maximum(taken - 1, 0), dtype) * dt
        return {"t_from": t_from, "t_to": t_from + dt, "dt": dt}  # taken = 0: NaN at the start


def _static(x):
    """``x`` as a Python float when known while tracing, else ``x``."""
    if isinstance(x, (int, float, np.floating, np.integer)):
        return float(x)
    value = tf.get_static_value(x)
    return x if value is None else float(value)


def count_steps(span, step_size):
    """The fewest equal steps no longer than ``step_size`` covering ``span``."""
    # The slack keeps round-off (1.0 / 0.1 = 10.000000000000002) from adding a step.
    if isinstance(span, float) and isinstance(step_size, float):
        return max(1, math.ceil(span / step_size - 1e-6))
    return tf.maximum(1, tf.cast(tf.math.ceil(span / step_size - 1e-6), tf.int32))


class Euler(FixedGridSolver):
    name, order, stages = "euler", 1, 1
    summary = "forward Euler, fixed step, order 1 (a ResNet with step_size=1)"

    @staticmethod
    def step(func, t, y, dt):
        return combine(y, [(dt, func(t, y))])


class Midpoint(FixedGridSolver):
    name, order, stages = "midpoint", 2, 2
    summary = "explicit midpoint, fixed step, order 2"

    @staticmethod
    def step(func, t, y, dt):
        k1 = func(t, y)
        return combine(y, [(dt, func(t + 0.5 * dt, combine(y, [(0.5 * dt, k1)])))])


class RK4(FixedGridSolver):
    name, order, stages = "rk4", 4, 4
    summary = "classical Runge-Kutta, fixed step, order 4"

    @staticmethod
    def step(func, t, y, dt):
        half, k1 = 0.5 * dt, func(t, y)
        k2 = func(t + half, combine(y, [(half, k1)]))
        k3 = func(t + half, combine(y, [(half, k2)]))
        k4 = func(t + dt, combine(y, [(dt, k3)]))
        sixth, third = dt / 6.0, dt / 3.0
        return combine(y, [(sixth, k1), (third, k2), (third, k3), (sixth, k4)])
