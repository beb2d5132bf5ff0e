"""``odeint_event``: solve until an event function crosses zero, with its time differentiable."""

import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow.python.eager import record

from odelayers import _odeint, _validate
from odelayers._options import SolverOptions
from odelayers._solvers import messages
from odelayers._solvers.dormand_prince import DormandPrince


def odeint_event(func, y0, t0, event_fn, t_max, *, options=None, max_secant_steps=30, **overrides):
    """Solve ``dy/dt = func(t, y)`` from ``y(t0) = y0`` until ``event_fn(t, y)`` changes sign.

    Like ``torchdiffeq.odeint_event``. The event time and state are differentiated
    (``y0``, ``t0``, the variables ``func`` and ``event_fn`` read) by the implicit
    function rule of Chen, Amos & Nickel (2021).

    Args:
        func: ``func(t, y) -> dy/dt``, as in ``odeint``.
        y0: the initial state, a floating tensor.
        t0: the initial time.
        event_fn: ``event_fn(t, y) -> scalar``; the event is its first sign change.
        t_max: the latest time searched, after ``t0``.
        options: an ``odelayers.SolverOptions``; dopri5 steps the search, its
            ``method`` and ``gradient`` solve for the differentiable state.
        max_secant_steps: secant iterations refining the event time within the step
            where the sign changes, until they move it less than ``atol + rtol |t|``.
        **overrides: ``SolverOptions`` fields, as in ``odeint``.

    Returns:
        ``(t_event, y_event)``.

    Raises:
        odelayers.errors.ODESolverError: no sign change before ``t_max``.
    """
    options, y0 = SolverOptions.resolve(options, **overrides), _validate.initial_state(y0, t0)
    t0, ode_fn = tf.convert_to_tensor(t0, y0.dtype), _odeint._checked(func)

    def event(t, y):
        return tf.reshape(event_fn(t, y), [])

    y0_, t0_ = tf.stop_gradient(y0), tf.stop_gradient(t0)
    with record.stop_recording():  # the search is not differentiated
        found = DormandPrince(options)._solve(
            ode_fn, t0_, y0_, tfp.math.ode.ChosenBySolver(tf.cast(t_max, y0.dtype))
        )
        times, states = tf.stop_gradient(found.times), tf.stop_gradient(found.states)
        g = tf.map_fn(lambda ty: event(*ty), (times, states), fn_output_signature=y0.dtype)
        crossed = tf.sign(g[1:]) * tf.sign(g[0]) <= 0
        found_one = messages.check(
            tf.reduce_any(crossed),
            "odeint_event found no sign change of event_fn between t0 and t_max = {t}. "
            "What to change: raise t_max, or check event_fn.",
            t=times[-1],
        )
        with tf.control_dependencies([found_one]):
            k = tf.argmax(tf.cast(crossed, tf.int32), output_type=tf.int32)

        def secant(i, t_prev, g_prev, t, g):
            t_next = t - g * (t - t_prev) / (g - g_prev)
            # From (t0, y0), as the final solve, so both agree on where event_fn vanishes.
            y = _odeint.odeint(func, y0_, tf.stack([t0_, t_next]), options=options)[-1]
            return i + 1, t, g, t_next, event(t_next, y)

        def unconverged(i, t_prev, g_prev, t, g):
            moved = tf.abs(t - t_prev) > options.atol + options.rtol * tf.abs(t)
            return (i < max_secant_steps) & moved & tf.not_equal(g, g_prev)

        start = (0, times[k], g[k], times[k + 1], g[k + 1])
        t = tf.while_loop(unconverged, secant, start)[3]

    y = _odeint.odeint(func, y0, tf.stack([t0, t]), options=options)[-1]

    @tf.custom_gradient
    def event_time(t, y):
        event(t, y)  # shows custom_gradient the variables event_fn reads

        def grad(upstream, variables=()):
            with tf.GradientTape() as tape:
                tape.watch([t, y])
                value = event(t, y)
            g_t, g_y, *g_v = tape.gradient(value, [t, y, *variables], unconnected_gradients="zero")
            scale = -upstream / (g_t + tf.reduce_sum(g_y * ode_fn(t, y)))
            return (tf.zeros_like(t), scale * g_y), [scale * g for g in g_v]

        return tf.identity(t), grad

    t_event = event_time(t, y)
    # Zero, with the derivative f(T, y(T)) dT that the moving end time adds.
    return t_event, y + ode_fn(t, y) * (t_event - tf.stop_gradient(t_event))
