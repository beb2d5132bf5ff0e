"""A learned end time: ``t1 = t0 + softplus(raw)``, the ODE solved over s in [0, 1].

With ``t = t0 + s T`` (``T = t1 - t0``), ``dh/dt = f(h, t)`` on ``[t0, t1]`` becomes
``dh/ds = T f(h, t0 + s T)`` on ``[0, 1]``: ``T`` is then an ordinary parameter of the
right-hand side, which every gradient mode differentiates. Softplus rather than a
constraint keeps ``t1 > t0`` smoothly, for every ``raw``.
"""

import dataclasses
import math

from odelayers._solvers.fixed_grid import count_steps


def raw_from_span(span: float) -> float:
    """The inverse of softplus (``span > 0``), finite for large and tiny spans."""
    return span + math.log(-math.expm1(-span))


def unit_interval_options(options, span: float):
    """``options`` restated for s in [0, 1] when the interval starts ``span`` long.

    Fixed-step methods keep their number of steps, so a forward pass costs the same
    while ``t1`` trains; an adaptive ``first_step`` is divided by ``span``.
    """
    if options.is_fixed_step:
        steps = options.num_steps or count_steps(span, options.step_size)
        return dataclasses.replace(options, step_size=None, num_steps=steps)
    if options.first_step is not None:
        return dataclasses.replace(options, first_step=options.first_step / span)
    return options


def rescaled(func, t0: float, span_fn):
    """``g(s, h) = T f(t0 + s T, h)`` with ``T = span_fn(dtype)`` read at every evaluation,
    inside the dynamics, so that TFP's adjoint sees the variable behind ``T``."""

    def unit_time_dynamics(s, h):
        span = span_fn(h.dtype)
        return span * func(t0 + s * span, h)

    return unit_time_dynamics
