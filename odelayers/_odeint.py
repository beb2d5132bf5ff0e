"""``odeint``: solve an initial value problem at given times."""

import functools

import tensorflow as tf
from tensorflow.python.eager import record

from odelayers import _validate
from odelayers._options import SolverOptions
from odelayers.errors import ODESolverError, solver_message


@tf.autograph.experimental.do_not_convert  # the solvers build their own loops
def odeint(
    func, y0, t, method=None, *, constants=None, options=None, full_output=False, **overrides
):
    """Solve ``dy/dt = func(t, y)``, ``y(t[0]) = y0``; returns ``y`` at every time of ``t``.

    Like ``torchdiffeq.odeint``. Works eagerly and, much faster, in ``tf.function``.

    Args:
        func: ``func(t, y) -> dy/dt``, with ``t`` a scalar tensor and ``y`` and
            the result shaped like ``y0``.
        y0: the initial state, a floating tensor of any shape; its dtype is the
            dtype of the solve.
        t: 1-D strictly monotonic times, ``t[0]`` the initial time (decreasing:
            integrates backwards).
        method: one of ``odelayers.METHODS`` (``odelayers.available_methods()``).
        constants: a dict of tensors passed on as ``func(t, y, **constants)``,
            differentiated by every gradient mode. Under ``tf.function`` the
            adjoint differentiates only ``y``, these and the variables ``func``
            reads: it refuses other tensors ``func`` captures from outside.
        options: an ``odelayers.SolverOptions``.
        full_output: also return ``{"nfe": int32 scalar}``, the number of
            evaluations of ``func`` in the forward solve.
        **overrides: ``SolverOptions`` fields (``rtol``, ``atol``, ``step_size``,
            ``num_steps``, ``gradient``, ...) replacing those of ``options``.

    Returns:
        The states ``[len(t), *y0.shape]``; with ``full_output``, ``(states, info)``.

    Raises:
        odelayers.errors.ODESolverError: the solve failed (in ``tf.function``:
            ``tf.errors.InvalidArgumentError`` with the same message).
    """
    if method is not None:
        overrides["method"] = method
    options = SolverOptions.resolve(options, **overrides)
    y0 = _validate.initial_state(y0, t)
    t_tensor, t_static = _validate.times(t, y0.dtype)
    states, nfe = solve(func, y0, t_tensor, t_static, options, constants=constants or {})
    return (states, {"nfe": nfe}) if full_output else states


@tf.autograph.experimental.do_not_convert
def solve(func, y0, t_tensor, t_static, options, final_only=False, constants=None):
    """``(states, nfe)`` for checked arguments (``t_static``: ``t`` as NumPy, if known).

    ``final_only`` returns the state at ``t[-1]`` alone (a trajectory's gradient
    would be zero-filled); ``constants=None`` skips the check of captured
    tensors (Keras layers read variables, which the adjoint handles).
    """
    _validate.tolerances(options, y0.dtype)
    if t_tensor.shape[0] == 1:
        return (y0 if final_only else y0[None]), tf.constant(0, tf.int32)
    if y0.shape.num_elements() == 0:  # nothing to integrate
        states = tf.repeat(y0[None], t_tensor.shape[0] - 1, axis=0)
        return _outputs(y0, states, final_only), tf.constant(0, tf.int32)
    dynamics = func
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
    solver = options.solver.from_options(options, span)
    ode_fn, outside = _checked(dynamics), []
    if options.gradient == "backprop":  # differentiated step by step
        run = functools.partial(solver._solve, functools.partial(ode_fn, **(constants or {})))
    else:  # Solver.solve wraps _solve in TFP's adjoint
        run = functools.partial(solver.solve, ode_fn, constants=constants or {})
        # Eagerly only a solve traced into a tf.function (eager_trace) can lose
        # gradients, and only if a GradientTape is recording.
        eager_loss = solver.eager_trace and record.could_possibly_record()
        if constants is not None and (eager_loss or not tf.executing_eagerly()):
            outside = _captured_tensors(func, y0, constants)
    if tf.executing_eagerly() and solver.eager_trace and not outside:
        # Traced afresh for this call (eager semantics), e.g. for TFP's BDF
        # whose Jacobians retrace at every evaluation when eager (~100x slower).
        run = tf.function(run, autograph=False)
    elif outside and not tf.executing_eagerly():
        names = ", ".join(f"{x.name} ({x.op.type})" for x in outside)
        raise ValueError(
            f"The dynamics read tensor(s) computed outside them: {names}. Inside "
            "tf.function, gradient='adjoint' differentiates only the state, the variables "
            "the dynamics read and odeint's constants, so their gradients would be lost. "
            "Pass them as constants: odeint(lambda t, y, k: -k * y, y0, t, "
            "constants={'k': k}), or use gradient='backprop'."
        )
    try:
        results = run(t0, y0, later)
    except tf.errors.InvalidArgumentError as error:
        message = solver_message(error.message)
        if message is None:
            raise
        raise ODESolverError(message) from None
    nfe = results.diagnostics.num_ode_fn_evaluations + solver.uncounted_evaluations
    return _outputs(y0, tf.cast(results.states, y0.dtype), final_only), tf.cast(nfe, tf.int32)


def _outputs(y0, later_states, final_only):
    if not final_only:
        return tf.concat([y0[None], later_states], axis=0)
    # A reshape (free, also its gradient) when there is one output time.
    return tf.squeeze(later_states, 0) if later_states.shape[0] == 1 else later_states[-1]


def _captured_tensors(func, y0, constants):
    """Floating tensors ``func`` reads from outside besides ``constants``, constants and
    variables: those TFP's adjoint would not differentiate (eagerly: eager tensors)."""
    signature = [tf.TensorSpec([], y0.dtype), tf.TensorSpec(y0.shape, y0.dtype)]
    traced = tf.function(lambda t, y: func(t, y, **constants), autograph=False)
    given = {id(x) for x in tf.nest.flatten(constants)}
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

    def ode_fn(t, y, **constants):
        dy = func(t, y, **constants)
        if not tf.is_tensor(dy):
            dy = tf.convert_to_tensor(dy, dtype=y.dtype)
        if dy.dtype != y.dtype:
            raise TypeError(
                f"The dynamics returned dtype {dy.dtype.name} for a state of dtype "
                f"{y.dtype.name}; dy/dt must have the state's dtype. Build the dynamics "
                f"with dtype='{y.dtype.name}' (or cast y0)."
            )
        if not dy.shape.is_compatible_with(y.shape):
            raise ValueError(
                f"The dynamics returned shape {dy.shape} for a state of shape {y.shape}; "
                "dy/dt must have the same shape as the state."
            )
        return dy

    return ode_fn
