"""``odeint``: solve an initial value problem at given times."""

import functools

import tensorflow as tf
from tensorflow.python.eager import record

from odelayers import _validate
from odelayers._options import SolverOptions
from odelayers._solvers import messages
from odelayers.errors import ODESolverError, solver_message


@tf.autograph.experimental.do_not_convert  # the solvers build their own loops
def odeint(
    func, y0, t, method=None, *, constants=None, options=None, full_output=False, **overrides
):
    """Solve ``dy/dt = func(t, y)``, ``y(t[0]) = y0``; returns ``y`` at every time of ``t``.

    Like ``torchdiffeq.odeint``; eagerly and, much faster, in ``tf.function``.

    Args:
        func: ``func(t, y) -> dy/dt``, with ``t`` a scalar tensor and ``y`` and
            the result structured like ``y0``.
        y0: the initial state, a floating tensor of any shape, or a tuple, list
            or dict of them (one dtype, the dtype of the solve).
        t: 1-D strictly monotonic times, ``t[0]`` the initial time (decreasing:
            integrates backwards); a tensor ``t`` is differentiated.
        method: one of ``odelayers.METHODS`` (``odelayers.available_methods()``).
        constants: a dict of tensors passed on as ``func(t, y, **constants)``,
            differentiated by every gradient mode (under ``tf.function`` the
            adjoint refuses other tensors ``func`` captures from outside).
        options: an ``odelayers.SolverOptions``.
        full_output: also return ``{"nfe": int32 scalar}``, the number of
            evaluations of ``func`` in the forward solve.
        **overrides: ``SolverOptions`` fields replacing those of ``options``.

    Returns:
        The states ``[len(t), *y0.shape]`` (a nested ``y0``: its structure, each
        tensor with a leading time axis); with ``full_output``, ``(states, info)``.

    Raises:
        odelayers.errors.ODESolverError: the solve failed or met NaN/Inf (in ``tf.function``:
            ``tf.errors.InvalidArgumentError`` with the same message).
    """
    if method is not None:
        overrides["method"] = method
    options, y0 = SolverOptions.resolve(options, **overrides), _validate.initial_state(y0, t)
    t_tensor, t_static = _validate.times(t, tf.nest.flatten(y0)[0].dtype)
    func, y0, restore = _flattened(func, y0)
    constants = dict(constants or {})
    dynamics, timed = func, t_tensor.dtype.is_floating and tf.is_tensor(t)
    if timed:
        # Zero, with dL/dshift = dL/dt_0 + ... + dL/dt_n: the integral of
        # <adjoint, df/dt>, which both gradient modes compute for a constant.
        constants[_SHIFT] = t_tensor[0] - tf.stop_gradient(t_tensor[0])
        dynamics = lambda s, y, **c: func(s + c.pop(_SHIFT), y, **c)  # noqa: E731
    states, nfe = solve(dynamics, y0, tf.stop_gradient(t_tensor), t_static, options, constants)
    if timed:
        constants.pop(_SHIFT)
        states = _with_time_gradient(states, t_tensor, functools.partial(func, **constants))
    states = restore(states)
    return (states, {"nfe": nfe}) if full_output else states


_SHIFT = "_odelayers_time_shift"
_BAD_START = "the initial state contains NaN or Inf (at t = {t}). What to change: check the inputs."
_OVERFLOW = (  # dopri5's interpolation between steps sums terms up to 32 |y|
    "{0}: the solution became NaN or Inf between t = {{t0}} and t = {{t1}} (step size {{dt}}, "
    "{{nfe}} evaluations) though every step passed its error test: the state or its interpolation "
    "exceeded {1.max:.3g}, the largest {1.name}. What to change: rescale the state or use float64."
).format


def _with_time_gradient(states, t, func):
    """``states``, passing ``dL/dt_k = <dL/dy(t_k), f(t_k, y(t_k))>`` to ``t_k`` for
    k >= 1 and minus their sum to ``t_0`` (the shift constant adds the rest)."""

    @tf.custom_gradient
    def attach(states, t):
        def grad(upstream):
            rates = [
                tf.reduce_sum(upstream[k] * func(t[k], tf.stop_gradient(states[k])))
                for k in range(1, t.shape[0])
            ]
            later = tf.stack(rates) if rates else tf.zeros([0], t.dtype)
            return upstream, tf.concat([-tf.reduce_sum(later, keepdims=True), later], 0)

        return tf.identity(states), grad

    return attach(states, t)


def _flattened(func, y0):
    """``(func, y0, restore)`` on one vector for a nested ``y0``; ``restore``
    takes the stacked states back to ``y0``'s structure."""
    if tf.is_tensor(y0):
        return func, y0, lambda states: states
    leaves = tf.nest.flatten(y0)
    shapes = [x.shape for x in leaves]

    def restore(flat):
        parts = tf.split(flat, [s.num_elements() for s in shapes], axis=-1)
        lead = tf.shape(flat)[:-1]
        parts = [tf.reshape(p, tf.concat([lead, s], 0)) for p, s in zip(parts, shapes)]
        return tf.nest.pack_sequence_as(y0, parts)

    def flat_func(t, y, **constants):
        dy = func(t, restore(y), **constants)
        try:
            tf.nest.assert_same_structure(y0, dy, check_types=False)
        except (ValueError, TypeError):
            raise ValueError(f"The dynamics returned {tf.nest.map_structure(lambda _: '...', dy)} "
                             "for a state structured as "
                             f"{tf.nest.map_structure(lambda _: '...', y0)}; dy/dt must have the "
                             "state's structure.") from None  # fmt: skip
        rates = [_checked_rate(d, x) for d, x in zip(tf.nest.flatten(dy), leaves)]
        return tf.concat([tf.reshape(d, [-1]) for d in rates], 0)

    return flat_func, tf.concat([tf.reshape(x, [-1]) for x in leaves], 0), restore


@tf.autograph.experimental.do_not_convert
def solve(func, y0, t_tensor, t_static, options, constants, final_only=False):
    """``(states, nfe)`` for checked arguments (``t_static``: ``t`` as NumPy, if known);
    ``final_only``: the state at ``t[-1]`` alone (a trajectory's gradient would be zero-filled)."""
    _validate.tolerances(options, y0.dtype)
    if t_tensor.shape[0] == 1:
        return (y0 if final_only else y0[None]), tf.constant(0, tf.int32)
    if y0.shape.num_elements() == 0:  # nothing to integrate
        states = tf.repeat(y0[None], t_tensor.shape[0] - 1, axis=0)
        return _outputs(y0, states, final_only), tf.constant(0, tf.int32)
    y0, times, dynamics = _finite(y0, _BAD_START, t=t_tensor[0]), t_tensor, func
    if t_static is None or t_static[-1] < t_static[0]:
        # Backwards in time: s = -t runs forwards, with dy/ds = -f(-s, y).
        sign = -1.0 if t_static is not None else tf.sign(t_tensor[-1] - t_tensor[0])
        dynamics = lambda t, y, **c: sign * func(sign * t, y, **c)  # noqa: E731
        t_tensor, t_static = sign * t_tensor, None if t_static is None else -t_static
    if t_static is not None:
        t0, later = float(t_static[0]), tf.constant(t_static[1:], y0.dtype)
        span = float(t_static[-1] - t_static[0])
    else:
        t0, later, span = t_tensor[0], t_tensor[1:], t_tensor[-1] - t_tensor[0]
    solver, ode_fn, outside = options.solver.from_options(options, span), _checked(dynamics), []
    if options.gradient == "backprop":  # differentiated step by step
        run = functools.partial(solver._solve, functools.partial(ode_fn, **constants))
    else:  # Solver.solve wraps _solve in TFP's adjoint
        run = functools.partial(solver.solve, ode_fn, constants=constants)
        # Eagerly only a solve traced into a tf.function (eager_trace) can lose
        # gradients, and only if a GradientTape is recording.
        if not tf.executing_eagerly() or (solver.eager_trace and record.could_possibly_record()):
            outside = _captured_tensors(func, y0, constants)
    if tf.executing_eagerly() and solver.eager_trace and not outside:
        # Traced afresh for this call (eager semantics), e.g. for TFP's BDF
        # whose Jacobians retrace at every evaluation when eager (~100x slower).
        run = tf.function(run, autograph=False)
    elif outside and not tf.executing_eagerly():
        names = ", ".join(f"{x.name} ({x.op.type})" for x in outside)
        raise ValueError(f"The dynamics read tensor(s) computed outside them: {names}. Inside "
                         "tf.function, gradient='adjoint' differentiates only the state, the "
                         "variables the dynamics read and odeint's constants, so their gradients "
                         "would be lost. Pass them as constants: odeint(lambda t, y, k: -k * y, "
                         "y0, t, constants={'k': k}), or use gradient='backprop'.")  # fmt: skip
    try:
        results = run(t0, y0, later)
    except tf.errors.InvalidArgumentError as error:
        message = solver_message(error.message)
        if message is None:
            raise
        raise ODESolverError(message) from None
    nfe = results.diagnostics.num_ode_fn_evaluations + solver.uncounted_evaluations
    states = tf.cast(results.states, y0.dtype)
    if solver.adaptive:  # they reject a NaN/Inf error estimate, but not an overflow elsewhere
        where, dt = lambda: _first_nonfinite(states, times), results.solver_internal_state.step_size
        states = _finite(states, _OVERFLOW(options.method, states.dtype), where, dt=dt, nfe=nfe)
    return _outputs(y0, states, final_only), tf.cast(nfe, tf.int32)


def _finite(x, template, describe=None, **values):  # x, or the solve stops on NaN/Inf
    check = messages.check(tf.reduce_all(tf.math.is_finite(x)), template, describe, **values)
    with tf.control_dependencies([check]):
        return tf.identity(x)


def _first_nonfinite(states, times):  # the first output interval that ends in NaN/Inf
    finite = tf.reduce_all(tf.math.is_finite(tf.reshape(states, [tf.shape(states)[0], -1])), 1)
    k = tf.argmin(tf.cast(finite, tf.int32))
    return {"t0": times[k], "t1": times[k + 1]}


def _outputs(y0, later_states, final_only):
    if not final_only:
        return tf.concat([y0[None], later_states], axis=0)
    # A reshape (free, also its gradient) when there is one output time.
    return tf.squeeze(later_states, 0) if later_states.shape[0] == 1 else later_states[-1]


def _captured_tensors(func, y0, constants):
    """Floating tensors ``func`` reads from outside besides ``constants``, constants and
    variables: those TFP's adjoint would not differentiate (eagerly: eager tensors)."""
    signature = [tf.TensorSpec([], y0.dtype), tf.TensorSpec(y0.shape, y0.dtype)]

    def call(t, y):
        with tf.name_scope("dynamics"):  # a layer's own scope may not be a valid root scope
            return func(t, y, **constants)

    traced, given = tf.function(call, autograph=False), {id(x) for x in tf.nest.flatten(constants)}
    eager = tf.executing_eagerly()
    return [
        x
        for x in traced.get_concrete_function(*signature).captured_inputs
        if x.dtype.is_floating
        and id(x) not in given
        and tf.is_symbolic_tensor(x) != eager
        and (eager or x.op.type != "Const")
    ]


def _checked(func):
    """``func``, failing clearly (once, while tracing) on a wrong output shape or dtype."""
    return lambda t, y, **constants: _checked_rate(func(t, y, **constants), y)


def _checked_rate(dy, y):
    if not tf.is_tensor(dy):
        dy = tf.convert_to_tensor(dy, dtype=y.dtype)
    if dy.dtype != y.dtype:
        raise TypeError(f"The dynamics returned dtype {dy.dtype.name} for a state of dtype "
                        f"{y.dtype.name}; dy/dt must have the state's dtype. Build the dynamics "
                        f"with dtype='{y.dtype.name}' (or cast y0).")  # fmt: skip
    if not dy.shape.is_compatible_with(y.shape):
        raise ValueError(f"The dynamics returned shape {dy.shape} for a state of shape {y.shape}; "
                         "dy/dt must have the same shape as the state.")  # fmt: skip
    return dy
