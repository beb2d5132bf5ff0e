"""``odeint``: solve an initial value problem at given times."""

from __future__ import annotations

import tensorflow as tf

from odelayers import _validate
from odelayers._options import SolverOptions
from odelayers.errors import ODESolverError, solver_message


@tf.autograph.experimental.do_not_convert  # the solvers build their own loops
def odeint(func, y0, t, method=None, *, options=None, full_output=False, **overrides):
    """Solve ``dy/dt = func(t, y)``, ``y(t[0]) = y0``; returns ``y`` at every time of ``t``.

    Like ``torchdiffeq.odeint``. Works eagerly and, much faster, in ``tf.function``.

    Args:
        func: ``func(t, y) -> dy/dt``, with ``t`` a scalar tensor and ``y`` and
            the result shaped like ``y0``.
        y0: the initial state, a floating tensor of any shape; its dtype is the
            dtype of the solve.
        t: 1-D strictly increasing times, ``t[0]`` the initial time.
        method: one of ``odelayers.METHODS`` (``odelayers.available_methods()``).
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
    states, nfe = solve(func, y0, t_tensor, t_static, options)
    return (states, {"nfe": nfe}) if full_output else states


@tf.autograph.experimental.do_not_convert
def solve(func, y0, t_tensor, t_static, options, final_only=False):
    """``(states, nfe)`` for validated arguments: ``odeint``'s and ``ODEBlock``'s core.

    Args:
        t_tensor: 1-D times of static length in ``y0``'s dtype.
        t_static: the same as a NumPy array when known while tracing, else ``None``.
        final_only: return the state at ``t[-1]`` alone (no trajectory, whose
            gradient would be a zero-filled trajectory).
    """
    _validate.tolerances(options, y0.dtype)
    if t_tensor.shape[0] == 1:
        return (y0 if final_only else y0[None]), tf.constant(0, tf.int32)
    if y0.shape.num_elements() == 0:  # nothing to integrate
        states = tf.zeros([t_tensor.shape[0] - 1, *y0.shape], y0.dtype)
        return _outputs(y0, states, final_only), tf.constant(0, tf.int32)
    if t_static is not None:
        t0, later = float(t_static[0]), tf.constant(t_static[1:], y0.dtype)
        span = float(t_static[-1] - t_static[0])
    else:
        t0, later, span = t_tensor[0], t_tensor[1:], t_tensor[-1] - t_tensor[0]
    solver = options.solver.from_options(options, span)
    # Solver.solve wraps _solve in TFP's adjoint; _solve alone is differentiated step by step.
    run = solver.solve if options.gradient == "adjoint" else solver._solve
    try:
        results = run(_checked(func), t0, y0, later)
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


def _checked(func):
    """``func``, failing clearly (once, while tracing) on a wrong output shape or dtype."""

    def ode_fn(t, y):
        dy = func(t, y)
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
