"""The solvers and the one name-to-solver registry (``METHODS``).

* Fixed-step Runge-Kutta methods (``Euler``, ``Midpoint``, ``RK4``): one small
  class each, holding its ``order``, its number of function evaluations per
  step (``stages``) and one ``step`` method. ``integrate_fixed`` drives them.
  ``FixedGridSolver`` wraps them in TensorFlow Probability's ``Solver`` base
  class, which gives them TFP's adjoint sensitivity method for free.
* Adaptive solvers (``DormandPrince``, ``BDF``): thin subclasses of
  ``tfp.math.ode.DormandPrince`` and ``tfp.math.ode.BDF`` that add an automatic
  first step (Dormand-Prince), a step limit and failure messages that say what
  to change. Their gradients are TFP's adjoint sensitivity method.

States may be nested structures of tensors: TFP's adjoint solves an augmented
system ``(state, adjoint, parameter adjoints, ...)`` with the same solver.

This module imports TensorFlow and TFP; the package imports it lazily.
"""

from __future__ import annotations

import collections
import functools
import logging
import math

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow_probability.python.math.ode import dormand_prince as _tfp_dopri
from tensorflow_probability.python.math.ode import runge_kutta_util as _rk_util
from tensorflow_probability.python.math.ode import util as _tfp_util

# Every message of an error raised inside a graph starts with this marker, so
# an eager caller can turn TensorFlow's InvalidArgumentError back into an
# ODESolverError (see _odeint.py).
MESSAGE_MARKER = "odelayers:"

# Up to this many steps per output interval, a fixed-step solve whose step
# count is known while tracing is unrolled into straight-line code; above it a
# tf.while_loop keeps the graph (and the tracing time, which grows linearly
# with unrolled steps) small. Measured on CPU, forward + backprop in
# tf.function: unrolling 2-8 steps of a small MLP is up to 2x faster (no loop
# overhead); for conv dynamics the two are equal at 4 steps, and at 16 steps
# the loop is as fast and traces 3x quicker.
UNROLL_MAX_STEPS = 8

# parallel_iterations of the adaptive solver's loops. TensorFlow's default
# (10) lets the executor start later iterations before earlier ones finish,
# each holding its state-sized buffers: on an ODE-Net block that doubles the
# peak memory of a training step and makes it vary by +-30 % between runs, at
# no gain in speed (the steps depend on each other). Measured in
# benchmarks/bench_memory.py, which also sets it back to 10 for contrast.
LOOP_PARALLEL_ITERATIONS = 1


class _DropAdjointDeprecationWarning(logging.Filter):
    """Drop TF's deprecation note about the ``back_prop=False`` TFP uses.

    TFP's adjoint runs ``tf.while_loop(..., back_prop=False)``, which makes
    TensorFlow print a multi-line deprecation warning on the first gradient.
    It is about TFP's code, not the user's, so it is dropped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "back_prop=False is deprecated" not in record.getMessage()


tf.get_logger().addFilter(_DropAdjointDeprecationWarning())


# --------------------------------------------------------------------------
# Fixed-step methods
# --------------------------------------------------------------------------


def _combine(y, terms):
    """``y + sum(c * k for c, k in terms)`` over (possibly nested) states."""
    coefficients = [c for c, _ in terms]

    def combine_leaf(y_leaf, *k_leaves):
        total = y_leaf
        for c, k in zip(coefficients, k_leaves):
            total = total + c * k
        return total

    return tf.nest.map_structure(combine_leaf, y, *[k for _, k in terms])


class Euler:
    """Forward Euler: ``y + dt f(t, y)``. First order, one evaluation per step."""

    name = "euler"
    kind = "fixed"
    order = 1
    stages = 1
    gradients = ("adjoint", "backprop")
    summary = "forward Euler, fixed step, order 1 (a ResNet with step_size=1)"

    @staticmethod
    def step(func, t, y, dt):
        """One step of size ``dt`` from ``(t, y)``; returns the state at ``t + dt``."""
        return _combine(y, [(dt, func(t, y))])


class Midpoint:
    """Explicit midpoint rule. Second order, two evaluations per step."""

    name = "midpoint"
    kind = "fixed"
    order = 2
    stages = 2
    gradients = ("adjoint", "backprop")
    summary = "explicit midpoint, fixed step, order 2"

    @staticmethod
    def step(func, t, y, dt):
        """One step of size ``dt`` from ``(t, y)``; returns the state at ``t + dt``."""
        half = 0.5 * dt
        k1 = func(t, y)
        k2 = func(t + half, _combine(y, [(half, k1)]))
        return _combine(y, [(dt, k2)])


class RK4:
    """The classical fourth-order Runge-Kutta method, four evaluations per step."""

    name = "rk4"
    kind = "fixed"
    order = 4
    stages = 4
    gradients = ("adjoint", "backprop")
    summary = "classical Runge-Kutta, fixed step, order 4"

    @staticmethod
    def step(func, t, y, dt):
        """One step of size ``dt`` from ``(t, y)``; returns the state at ``t + dt``."""
        half = 0.5 * dt
        k1 = func(t, y)
        k2 = func(t + half, _combine(y, [(half, k1)]))
        k3 = func(t + half, _combine(y, [(half, k2)]))
        k4 = func(t + dt, _combine(y, [(dt, k3)]))
        sixth, third = dt / 6.0, dt / 3.0
        return _combine(y, [(sixth, k1), (third, k2), (third, k3), (sixth, k4)])


def static_value(x):
    """``x`` as a Python float if it is known while tracing, else ``None``."""
    if isinstance(x, (int, float, np.floating, np.integer)):
        return float(x)
    value = tf.get_static_value(x)
    return None if value is None else float(value)


def count_steps(span, step_size):
    """Number of equal steps no longer than ``step_size`` that cover ``span``.

    A Python int when both are Python floats, else an int32 tensor. The 1e-6
    slack keeps round-off (e.g. 1.0 / 0.1 = 10.000000000000002) from adding
    a step.
    """
    if isinstance(span, float) and isinstance(step_size, float):
        return max(1, math.ceil(span / step_size - 1e-6))
    steps = tf.math.ceil(span / step_size - 1e-6)
    return tf.maximum(1, tf.cast(steps, tf.int32))


def _advance(method, func, y, t_start, dt, num_steps, dtype):
    """Take ``num_steps`` steps of size ``dt`` from ``(t_start, y)``.

    Step k starts at ``t_start + k dt`` (not an accumulated sum, so the time
    does not drift). Unrolled when ``num_steps`` is a small Python int.
    """
    if isinstance(num_steps, int) and num_steps <= UNROLL_MAX_STEPS:
        dt_tensor = tf.constant(dt, dtype) if isinstance(dt, float) else dt
        for k in range(num_steps):
            if isinstance(t_start, float) and isinstance(dt, float):
                t = tf.constant(t_start + k * dt, dtype)
            else:
                t = t_start + k * dt_tensor
            y = method.step(func, t, y, dt_tensor)
        return y

    t_start = tf.cast(t_start, dtype)
    dt = tf.cast(dt, dtype)

    def body(k, y):
        t = t_start + tf.cast(k, dtype) * dt
        return k + 1, method.step(func, t, y, dt)

    _, y = tf.while_loop(
        lambda k, _: k < num_steps,
        body,
        (tf.constant(0, tf.int32), y),
        maximum_iterations=num_steps,
    )
    return y


def integrate_fixed(method, func, y0, t_start, times, step_size):
    """Integrate with a fixed-step method; the states at each of ``times``.

    Each interval between consecutive output times is split into the fewest
    equal steps no longer than ``step_size``, so every output is a solver
    state (no interpolation) and a grid that fits (e.g. step 1 on [0, 4]) is
    followed exactly.

    Args:
        method: a fixed-step class (``Euler``, ``Midpoint``, ``RK4``).
        func: ``func(t, y) -> dy/dt``.
        y0: state at ``t_start`` (tensor or nest of tensors).
        t_start: Python float or scalar tensor.
        times: output times after ``t_start``: a 1-D tensor with a static
            length, or a sequence of floats / scalar tensors.
        step_size: Python float or scalar tensor.

    Returns:
        ``(states, nfe)``: states stacked on a new first axis, and the number
        of function evaluations (Python int or int32 tensor).
    """
    dtype = tf.nest.flatten(y0)[0].dtype
    if tf.is_tensor(times):
        static = tf.get_static_value(times)
        times = [float(v) for v in static] if static is not None else tf.unstack(times)
    times = [static_value(t) if static_value(t) is not None else t for t in times]
    t_prev = static_value(t_start)
    t_prev = t_start if t_prev is None else t_prev
    h = static_value(step_size)
    h = step_size if h is None else h

    y, states, total_steps = y0, [], 0
    for t_next in times:
        span = t_next - t_prev
        num_steps = count_steps(span, h)
        if isinstance(num_steps, int) and isinstance(span, float):
            dt = span / num_steps
        else:
            dt = tf.cast(span, dtype) / tf.cast(num_steps, dtype)
        y = _advance(method, func, y, t_prev, dt, num_steps, dtype)
        states.append(y)
        total_steps = total_steps + num_steps
        t_prev = t_next
    if len(states) == 1:  # a reshape, whose gradient is free (tf.stack's copies)
        stacked = tf.nest.map_structure(lambda leaf: tf.expand_dims(leaf, 0), states[0])
    else:
        stacked = tf.nest.map_structure(lambda *leaves: tf.stack(leaves), *states)
    return stacked, total_steps * method.stages


class _FixedDiagnostics(
    collections.namedtuple(
        "_FixedDiagnostics",
        ["num_ode_fn_evaluations", "num_jacobian_evaluations", "num_matrix_factorizations", "status"],
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


# --------------------------------------------------------------------------
# Adaptive methods
# --------------------------------------------------------------------------


def _rms_norm(nest):
    """Root mean square over every element of a nest of tensors."""
    leaves = tf.nest.flatten(nest)
    total = tf.add_n([tf.reduce_sum(tf.square(leaf)) for leaf in leaves])
    count = sum(tf.cast(tf.size(leaf), total.dtype) for leaf in leaves)
    return tf.sqrt(total / count)


def _all_finite(nest):
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(leaf)) for leaf in tf.nest.flatten(nest)])


def select_initial_step(ode_fn, t0, y0, f0, order, rtol, atol, controlled=lambda nest: nest):
    """Hairer's starting step size (Hairer, Norsett & Wanner, 1993, II.4).

    The same algorithm as SciPy's ``solve_ivp`` and torchdiffeq's
    ``_select_initial_step``: a first guess from the sizes of ``y0`` and
    ``f0``, refined with one more evaluation that estimates the second
    derivative. Costs one function evaluation. ``controlled`` picks the
    part of a (nested) state the norms are taken over, as in the step-size
    controller.
    """
    dtype = tf.nest.flatten(y0)[0].dtype
    rtol = tf.cast(rtol, dtype)
    atol = tf.cast(atol, dtype)
    y0_part = controlled(y0)
    scale = tf.nest.map_structure(lambda y: atol + rtol * tf.abs(y), y0_part)
    scaled = lambda nest: tf.nest.map_structure(tf.divide, controlled(nest), scale)  # noqa: E731
    d0 = _rms_norm(scaled(y0))
    d1 = _rms_norm(scaled(f0))
    small = tf.constant(1e-5, dtype)
    h0 = tf.where((d0 < small) | (d1 < small), tf.constant(1e-6, dtype), 0.01 * d0 / d1)
    y1 = _combine(y0, [(h0, f0)])
    f1 = ode_fn(t0 + h0, y1)
    d2 = _rms_norm(scaled(tf.nest.map_structure(tf.subtract, f1, f0))) / h0
    d_max = tf.maximum(d1, d2)
    h1 = tf.where(
        d_max <= 1e-15,
        tf.maximum(tf.constant(1e-6, dtype), h0 * 1e-3),
        (0.01 / d_max) ** (1.0 / (order + 1)),
    )
    # Step sizes are controls, not functions to differentiate: without this,
    # backprop through the solve sends NaN through the tf.where branches
    # (e.g. 0/0 in d0/d1 when the dynamics start at exactly zero).
    return tf.stop_gradient(tf.minimum(100.0 * h0, h1))


# Stage sums over leaves at least this large (elements per batch example)
# run as one XLA-fused loop; smaller leaves (e.g. the adjoint's parameter
# components) use add_n, whose per-call cost is lower. Measured on CPU for a
# [32, 18, 18, 64] state: the six stage sums of a Dormand-Prince step take
# 5.0 ms fused against 8.6 ms as separate multiplications and an add_n.
FUSE_MIN_ELEMENTS = 4096


_FUSED = {}


def _fused(num_terms: int, with_y0: bool):
    """An XLA-compiled ``[y0 +] sum(c_j k_j)`` for a fixed number of terms.

    One function per arity, so that each is traced once per shape and dtype
    (a single variadic function would retrace at every arity).
    """
    key = (num_terms, with_y0)
    if key not in _FUSED:

        def fused_sum(*args):
            if with_y0:
                total, coefficients, k = args[0], args[1], args[2:]
                start = 0
            else:
                coefficients, k = args[0], args[1:]
                total, start = coefficients[0] * k[0], 1
            for j in range(start, num_terms):
                total = total + coefficients[j] * k[j]
            return total

        _FUSED[key] = tf.function(fused_sum, jit_compile=True, autograph=False)
    return _FUSED[key]


_XLA_WORKS = []


def _xla_works() -> bool:
    """Whether XLA compiles here (checked once, eagerly, on a tiny sum).

    Some TensorFlow builds and device plugins have no XLA: the stage sums then
    stay plain TensorFlow ops.
    """
    if not _XLA_WORKS:
        with tf.init_scope():
            try:
                ones = tf.ones([2])
                _fused(1, True)(ones, tf.ones([1]), ones)
                _XLA_WORKS.append(True)
            except Exception:  # noqa: BLE001 - any failure means: do not use XLA
                _XLA_WORKS.append(False)
    return _XLA_WORKS[0]


def _fusable(leaf) -> bool:
    # In graphs only: eagerly, each op runs on its own anyway, and calls of a
    # compiled function from TFP's eager loops under a gradient tape retrace.
    if tf.executing_eagerly():
        return False
    per_example = leaf.shape[1:].num_elements() if leaf.shape.rank else None
    if per_example is None or per_example < FUSE_MIN_ELEMENTS:
        return False
    return _xla_works()


def _stage_sum(y0, coefficients, k, dt):
    """``y0 + sum((dt c_j) k_j)`` over nests in one pass (``y0=None``: no ``y0``).

    Two differences from TFP's ``weighted_sum``, which ``runge_kutta_step``
    uses as ``1.0 * y0 + dt * add_n(c_j k_j)``:

    * precision: TFP converts each Python-float coefficient with
      ``tf.cast(c, dtype)``, which makes a float32 constant first, so a
      float64 solve runs with a tableau rounded to float32 (relative errors
      ~3e-8 in the coefficients): its error stalls near 6e-8 on dy/dt = y at
      any rtol (10,399 evaluations at rtol = atol = 1e-12). Here ``dt * c``
      is formed in the state's dtype: 2.8e-12 in 332 evaluations
      (``benchmarks/bench_precision.py``).
    * speed: one pass over the state (an XLA-fused loop, see
      ``FUSE_MIN_ELEMENTS``) instead of one per term plus three.
    """
    terms = [(dt * c, k_j) for c, k_j in zip(coefficients, k) if c != 0]

    def leaf_sum(y_leaf, *k_leaves):
        dtype = k_leaves[0].dtype
        scales = [tf.cast(c, dtype) for c, _ in terms]
        if _fusable(k_leaves[0]):
            fused = _fused(len(k_leaves), with_y0=y_leaf is not None)
            head = () if y_leaf is None else (y_leaf,)
            return fused(*head, tf.stack(scales), *k_leaves)
        scaled = [c * k_leaf for c, k_leaf in zip(scales, k_leaves)]
        return tf.add_n(scaled if y_leaf is None else [y_leaf, *scaled])

    k_nests = [k_j for _, k_j in terms]
    if y0 is None:
        return tf.nest.map_structure(lambda *ks: leaf_sum(None, *ks), *k_nests)
    return tf.nest.map_structure(leaf_sum, y0, *k_nests)


def runge_kutta_step(ode_fn, y0, f0, t0, dt, tableau):
    """One explicit Runge-Kutta step with an embedded error estimate.

    TFP's ``runge_kutta_util.runge_kutta_step`` (tensorflow_probability 0.25,
    Apache 2.0), with the stage sums of :func:`_stage_sum`. Returns
    ``(y1, f1, y1_error, k)``; ``f1 = ode_fn(t0 + dt, y1)`` for FSAL tableaus.
    """
    k = [f0]
    for a_i, b_i in zip(tableau.a, tableau.b):
        y_i = _stage_sum(y0, b_i, k, dt)
        k.append(ode_fn(t0 + a_i * dt, y_i))
    if not (tableau.c_sol[-1] == 0 and tableau.c_sol[:-1] == tableau.b[-1]):
        y_i = _stage_sum(y0, tableau.c_sol, k, dt)
    return y_i, k[-1], _stage_sum(None, tableau.c_error, k, dt), k


def _assert(condition, message, *data):
    """A graph-safe assertion whose message starts with the package marker."""
    return tf.debugging.Assert(condition, [f"{MESSAGE_MARKER} {message}", *data], summarize=8)


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
      (~30 passes over the state saved per step); the results are the same.
    * The solver loops run with ``parallel_iterations=1``: TensorFlow's
      default of 10 lets later iterations start early and keep their
      state-sized buffers alive, which doubles the peak memory of a
      training step and makes it vary from run to run.

    Everything else (tableau, error norm, step-size controller, interpolation,
    the adjoint equations) is TFP's.
    """

    name = "dopri5"
    kind = "adaptive"
    order = 5
    gradients = ("adjoint", "backprop")
    summary = "Dormand-Prince 5(4), adaptive (TFP), the default"

    def __init__(self, rtol, atol, first_step=None, max_num_steps=4096, adjoint_norm="seminorm"):
        super().__init__(
            rtol=rtol,
            atol=atol,
            first_step_size=1e-3 if first_step is None else first_step,
            max_num_steps=None,  # enforced in _step with a better message
            make_adjoint_solver_fn=self._make_adjoint_solver,
            name="dopri5",
        )
        self._first_step = first_step
        self._auto_first_step = first_step is None
        self._step_limit = int(max_num_steps)
        if adjoint_norm not in ADJOINT_NORMS:
            raise ValueError(f"adjoint_norm must be one of {ADJOINT_NORMS}, got {adjoint_norm!r}.")
        self._adjoint_norm = adjoint_norm

    def _make_adjoint_solver(self):
        return _AdjointDormandPrince(
            rtol=self._rtol,
            atol=self._atol,
            first_step=self._first_step,
            max_num_steps=self._step_limit,
            seminorm=self._adjoint_norm == "seminorm",
        )

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
        checks = [
            _assert(
                _all_finite(state.current_state),
                "the ODE state contains NaN or Inf at the start of a solve (of the "
                "forward problem, or of the backward adjoint problem when computing "
                "gradients). Check the inputs, the loss and the learning rate.",
            ),
            _assert(
                _all_finite(state.current_derivative),
                "the dynamics returned NaN or Inf at the start of a solve. Check the "
                "dynamics' weights (a diverged training?) and inputs.",
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
                ode_fn, initial_time, initial_state, solution_times,
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

            def advance_to(time_id, solver_state, diagnostics, arrays):
                target = times[time_id]
                # As TFP: step until the current time is past the target, then
                # interpolate within the last step.
                solver_state, diagnostics = tf.while_loop(
                    lambda s, _: target >= s.current_time,
                    lambda s, d: step(s, d, target=target),
                    (solver_state, diagnostics),
                    parallel_iterations=LOOP_PARALLEL_ITERATIONS,
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
                parallel_iterations=LOOP_PARALLEL_ITERATIONS,
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
        limit = self._step_limit * self.ODE_FN_EVALS_PER_STEP
        checks = [
            _assert(
                diagnostics.num_ode_fn_evaluations < limit,
                f"dopri5 gave up after max_num_steps={self._step_limit} steps (accepted "
                "and rejected) before reaching the end time. Raise max_num_steps, "
                "loosen rtol/atol, or use method='bdf' if the problem is stiff. "
                "Reached t =",
                t0,
            ),
            _assert(
                t0 + dt > t0,
                "dopri5 gave up: the step size underflowed (t + dt == t). The "
                "dynamics may blow up in finite time, return NaN/Inf, or be stiff: "
                "check the dynamics, loosen rtol/atol, or use method='bdf'. At t =",
                t0,
                "step size =",
                dt,
            ),
        ]
        with tf.control_dependencies(checks):
            y1, f1, y1_error, k = runge_kutta_step(ode_fn, y0, f0, t0, dt, _tfp_dopri._TABLEAU)

        def scaled_error(error, a, b):
            # TFP's measure: (|error| / (atol + rtol max(|y0|, |y1|)))**2 per element,
            # then its nest_rms_norm (so sqrt(mean(ratio**4)), kept as TFP's).
            tolerance = atol + rtol * tf.maximum(tf.abs(a), tf.abs(b))
            return tf.square(error / tolerance)

        controlled = [self._controlled(x) for x in (y1_error, y0, y1)]
        error_ratio = _rk_util.nest_rms_norm(tf.nest.map_structure(scaled_error, *controlled))
        # A NaN error ratio would make every later step size NaN; treat it as
        # an infinitely bad step: rejected, next step shrunk by `dfactor`.
        error_ratio = tf.where(
            tf.math.is_finite(error_ratio), error_ratio, tf.constant(np.inf, error_ratio.dtype)
        )
        accept_step = error_ratio <= 1

        # A cond forwards the chosen tensors; a select would copy both states.
        y_next, f_next = tf.cond(accept_step, lambda: (y1, f1), lambda: (y0, f0))
        t_next = tf.where(accept_step, t0 + dt, t0)

        def coefficients():
            # TFP's rk_fourth_order_interpolation_coefficients, with the
            # midpoint formed by _stage_sum (exact float64 weights).
            y_mid = _stage_sum(y0, _tfp_dopri._TABLEAU.c_mid, k, dt)
            return _rk_util._fourth_order_interpolation_coefficients(y0, y1, y_mid, k[0], k[-1], dt)

        if target is None:
            interp_coeff = _rk_util.nest_where(accept_step, coefficients(), interp_coeff)
        else:
            # Only the step that ends past the output time is interpolated in.
            interp_coeff = tf.cond(
                accept_step & (t0 + dt > target), coefficients, lambda: interp_coeff
            )
        # As for the first step: the controller is not differentiated.
        dt_next = tf.stop_gradient(
            _tfp_util.next_step_size(dt, self.ORDER, error_ratio, safety, dfactor, ifactor)
        )
        solver_state = _tfp_dopri._RungeKuttaSolverInternalState(
            y_next, f_next, t0, t_next, dt_next, interp_coeff
        )
        diagnostics = diagnostics._replace(
            num_ode_fn_evaluations=diagnostics.num_ode_fn_evaluations + self.ODE_FN_EVALS_PER_STEP
        )
        return solver_state, diagnostics


ADJOINT_NORMS = ("seminorm", "full")
"""Error norms of the adjoint's backward solve (``DormandPrince(adjoint_norm=...)``)."""


class _AdjointDormandPrince(DormandPrince):
    """The solver of TFP's backward adjoint problem.

    Its state is TFP's augmented tuple ``(state, adjoint, parameter
    integrals, constant integrals)``. With ``seminorm=True`` the step-size
    controller bounds the error of the first two only.

    TFP initialises the backward solve once before its loop over output
    intervals and again (``_adjust_solver_internal_state_for_state_jump``) at
    the start of every interval, discarding the first. The first is
    therefore a placeholder here: it saves two evaluations of the augmented
    system (a dynamics evaluation and its vector-Jacobian product each).
    """

    def __init__(self, rtol, atol, first_step, max_num_steps, seminorm):
        super().__init__(rtol=rtol, atol=atol, first_step=first_step, max_num_steps=max_num_steps)
        self._seminorm = seminorm

    def _controlled(self, nest):
        if self._seminorm:
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
            step_size=tf.constant(1e-3 if self._first_step is None else self._first_step, p.real_dtype),
            interpolating_coefficients=[p.initial_state] * self.ORDER,
        )

    def _adjust_solver_internal_state_for_state_jump(
        self, ode_fn, initial_time, initial_state, previous_solver_internal_state, previous_state
    ):
        del previous_solver_internal_state, previous_state
        return self._start(ode_fn, initial_time, initial_state)


class BDF(tfp.math.ode.BDF):
    """``tfp.math.ode.BDF`` (variable-order backward differentiation) for stiff problems.

    It forms the dense Jacobian of the whole state (batch included), so it
    suits small systems (up to a few thousand numbers), not image-sized
    Neural ODE states. Gradients: adjoint only.
    """

    name = "bdf"
    kind = "adaptive"
    order = 5
    gradients = ("adjoint",)
    summary = "backward differentiation formulas, adaptive, for stiff problems (TFP)"
    uncounted_evaluations = 0

    def __init__(self, rtol, atol, first_step=None, max_num_steps=4096):
        super().__init__(
            rtol=rtol,
            atol=atol,
            first_step_size=first_step,
            max_num_steps=int(max_num_steps),
            name="bdf",
        )
        self._step_limit = int(max_num_steps)

    def failure_message(self):
        """Message for a solve that returned ``status != 0``."""
        return (
            f"{MESSAGE_MARKER} bdf gave up after max_num_steps={self._step_limit} steps "
            "before reaching the end time. Raise max_num_steps or loosen rtol/atol."
        )


METHODS = {cls.name: cls for cls in (Euler, Midpoint, RK4, DormandPrince, BDF)}
"""The registry: method name -> solver class."""
