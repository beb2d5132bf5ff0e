"""``odeint``: solve an initial value problem at given times (functional API)."""

from __future__ import annotations

from odelayers._backend import require_tensorflow
from odelayers._options import SolverOptions
from odelayers.errors import ODESolverError, solver_message


def _called_as_is(function):
    """Mark ``function`` so that AutoGraph calls it without converting it.

    What ``tf.autograph.experimental.do_not_convert`` does (it sets this
    attribute on its wrapper), without importing TensorFlow here. Nothing in
    odelayers needs AutoGraph: the solvers build their own ``tf.while_loop``s.
    When a user's ``tf.function`` called ``odeint``, AutoGraph converted it and
    everything it calls, and in long test sessions a converted call reached
    the wrong function now and then ("odeint() missing 7 required positional
    arguments", "__init__() missing ... 'rtol' and 'atol'").
    """
    function.autograph_info__ = {}
    return function


@_called_as_is
def odeint(func, y0, t, method=None, *, options=None, full_output=False, **overrides):
    """Solve ``dy/dt = func(t, y)``, ``y(t[0]) = y0`` and return ``y`` at every ``t``.

    Like ``torchdiffeq.odeint`` and ``scipy.integrate.solve_ivp(..., t_eval=t)``.
    Works eagerly and inside ``tf.function`` (where it is much faster: wrap
    the code that calls it, e.g. a training step, in ``tf.function``).

    Args:
        func: ``func(t, y) -> dy/dt``; ``t`` is a scalar tensor, ``y`` and the
            result are tensors with the shape and dtype of ``y0``.
        y0: initial state, a floating tensor of any shape (e.g. a batch
            ``[B, D]``). Its dtype is the dtype of the solve.
        t: 1-D strictly increasing times; ``t[0]`` is the initial time.
            A floating tensor must have ``y0``'s dtype; lists and NumPy arrays
            are converted.
        method: ``"dopri5"`` (adaptive Dormand-Prince 5(4), the default),
            ``"bdf"`` (adaptive, for stiff problems, small states only),
            ``"euler"``, ``"midpoint"`` or ``"rk4"`` (fixed step). See
            ``odelayers.available_methods()``.
        rtol, atol: relative and absolute error tolerances of the adaptive
            methods (per element: ``atol + rtol * |y|``); ignored by the
            fixed-step methods. float16 states need ``rtol >= 1e-2``
            (bfloat16: ``1e-1``): finer tolerances raise ``ValueError``.
        step_size: fixed-step methods: the largest step. Each interval
            between consecutive times is split into the fewest equal steps
            no longer than ``step_size``.
        num_steps: fixed-step methods, instead of ``step_size``: the number of
            equal steps from ``t[0]`` to ``t[-1]``.
        max_num_steps: adaptive methods give up (an error saying so) after
            this many steps, accepted and rejected.
        first_step: adaptive methods: size of the first step. ``None``
            chooses it automatically (Hairer's algorithm for "dopri5", TFP's
            own for "bdf").
        gradient: ``"adjoint"`` (default): gradients by the adjoint
            sensitivity method (TFP), memory independent of the number of
            steps; ``"backprop"``: differentiate through the solver's
            operations (exact gradient of the computed solution, memory grows
            with the steps; "dopri5" and the fixed-step methods).
        adjoint_norm: "dopri5" with the adjoint: the error norm of the
            backward solve. ``"seminorm"`` (default; Kidger, Chen & Lyons
            2021) bounds the error of the state and its adjoint only, not of
            the parameter-gradient integrals that nothing else depends on:
            the gradients stay as accurate (tests check them against finite
            differences) in far fewer steps, e.g. 62 instead of 230
            backward evaluations on an ODE-Net block at rtol = atol = 1e-3
            (``results/benchmarks/ode_levers.md``).
            ``"full"``: every component, as TFP's own adjoint and
            torchdiffeq's default. Other methods ignore it (fixed steps have
            no error control; "bdf" keeps TFP's).
        options: an ``odelayers.SolverOptions`` holding all of these; the
            keywords given next to it replace its fields.
        **overrides: ``SolverOptions`` fields by name: ``rtol`` ...
            ``adjoint_norm`` above, and ``error_norm``,
            ``parallel_iterations``, ``lazy_dense_output``,
            ``fuse_min_elements`` (see ``SolverOptions``). Defaults:
            ``SolverOptions``' defaults.
        full_output: also return a dict ``{"nfe": int32 scalar tensor}``
            holding the number of evaluations of ``func`` in the forward solve.

    Returns:
        Tensor of shape ``[len(t), *y0.shape]`` (``[0]`` is ``y0`` itself);
        with ``full_output=True``, ``(states, info)``.

    Raises:
        ValueError, TypeError: invalid arguments (the message says what to
            change), including ``func`` returning the wrong shape or dtype.
        odelayers.errors.ODESolverError: an adaptive solver gave up, or a
            fixed-step solve's state became NaN/Inf (eager mode; inside
            ``tf.function`` the same message arrives as
            ``tf.errors.InvalidArgumentError``). The message names the time
            reached, the step size and what to change.
    """
    require_tensorflow("odeint")
    from odelayers import _validate

    if method is not None:
        overrides["method"] = method
    options = SolverOptions.resolve(options, **overrides)
    y0 = _validate.initial_state(y0, t)
    t_tensor, t_static = _validate.times(t, y0.dtype)
    states, nfe = solve(func, y0, t_tensor, t_static, options)
    if full_output:
        return states, {"nfe": nfe}
    return states


@_called_as_is
def solve(func, y0, t_tensor, t_static, options, final_only=False):
    """Validated core shared by ``odeint`` and ``ODEBlock``: ``(states, nfe)``.

    Args:
        func: ``func(t, y) -> dy/dt``.
        y0: floating tensor.
        t_tensor: 1-D tensor of times with a static length and ``y0``'s dtype.
        t_static: the same times as a NumPy array when known while tracing.
        options: ``SolverOptions``.
        final_only: return the state at ``t[-1]`` alone instead of the
            trajectory: no stacking with ``y0``, whose gradient would
            materialise a zero-filled trajectory (~3 % of a short fixed-step
            training step).
    """
    import tensorflow as tf

    from odelayers import _validate

    _validate.tolerances(options, y0.dtype)
    try:
        if options.method == "bdf" and tf.executing_eagerly() and t_static is not None:
            # TFP's BDF computes Jacobians with pfor, which re-traces a function
            # at every Jacobian evaluation when run eagerly (~100x slower). A
            # function traced afresh for this call keeps eager semantics (the
            # dynamics are read now) at the cost of one trace.
            compiled = tf.function(
                lambda y0: _solve(func, y0, t_tensor, t_static, options, final_only),
                autograph=False,
            )
            return compiled(y0)
        return _solve(func, y0, t_tensor, t_static, options, final_only)
    except tf.errors.InvalidArgumentError as error:
        message = solver_message(error.message)
        if message is not None:
            raise ODESolverError(message) from None
        raise


def _checked(func):
    """Wrap ``func`` so a wrong output shape or dtype fails with a clear message.

    The checks are on static shapes and dtypes: free inside ``tf.function``
    (they run once, while tracing).
    """
    import tensorflow as tf

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


@_called_as_is
def _solve(func, y0, t_tensor, t_static, options, final_only=False):
    import tensorflow as tf

    from odelayers import _validate
    from odelayers._solvers import fixed_grid, registry, tfp_adapter
    from odelayers._solvers.bdf import BDF

    if t_tensor.shape[0] == 1:
        return (y0 if final_only else y0[None]), tf.constant(0, tf.int32)
    ode_fn = _checked(func)
    if t_static is not None:
        t0 = float(t_static[0])
        later = tf.constant(t_static[1:], y0.dtype)
    else:
        t0, later = t_tensor[0], t_tensor[1:]

    if options.is_fixed_step:
        method = registry.SOLVERS[options.method]
        step_size = _validate.step_size(options, t_tensor, t_static)
        if options.gradient == "backprop":
            states, nfe = fixed_grid.integrate_fixed(method, ode_fn, y0, t0, later, step_size)
        else:
            solver = tfp_adapter.FixedGridSolver(method, step_size)
            results = solver.solve(ode_fn, t0, y0, later)
            states, nfe = results.states, results.diagnostics.num_ode_fn_evaluations
    else:
        # An adaptive method ("dopri5", "bdf"): a TFP Solver built from the options.
        solver = registry.SOLVERS[options.method](options=options)
        # `solve` wraps `_solve` in TFP's adjoint custom gradient; calling
        # `_solve` directly leaves plain autodiff through the steps.
        run = solver.solve if options.gradient == "adjoint" else solver._solve
        results = run(ode_fn, t0, y0, later)
        states = results.states
        nfe = results.diagnostics.num_ode_fn_evaluations + solver.uncounted_evaluations
        if isinstance(solver, BDF):
            states = _check_status(results.diagnostics.status, states, solver.failure_message())
    states = tf.cast(states, y0.dtype)
    if final_only:
        # A reshape (free, also its gradient) when there is one output time.
        final = tf.squeeze(states, axis=0) if states.shape[0] == 1 else states[-1]
        return final, tf.cast(nfe, tf.int32)
    states = tf.concat([y0[None], states], axis=0)
    return states, tf.cast(nfe, tf.int32)


def _check_status(status, states, message):
    """Raise ``message`` when a TFP solver reports failure (``status != 0``)."""
    import tensorflow as tf

    if tf.executing_eagerly():
        if int(status) != 0:
            raise ODESolverError(message)
        return states
    check = tf.debugging.Assert(tf.equal(status, 0), [message])
    with tf.control_dependencies([check]):
        return tf.identity(states)
