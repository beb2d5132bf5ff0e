"""A learned end time: ``t1 = t0 + softplus(raw)``, with the ODE solved over s in [0, 1].

Substituting ``t = t0 + s T`` (``T = t1 - t0``) turns ``dh/dt = f(h, t)`` on
``[t0, t1]`` into ``dh/ds = T f(h, t0 + s T)`` on ``[0, 1]``: the same
solution, over a fixed interval, with ``T`` an ordinary parameter of the
right-hand side. Every gradient mode then differentiates ``T`` like any other
weight of the dynamics: backprop through the steps, and TFP's adjoint, which
integrates the gradient of every variable the ODE function reads (``T`` is
computed from the variable inside that function for this reason: a tensor
computed outside it would be a constant to the adjoint).

Why softplus rather than a constraint on ``t1``: a constraint is a projection
after each optimizer step, so ``t1`` could land on ``t0`` (an empty interval,
where the block is the identity and ``T``'s gradient means nothing) and the
step that crossed would be lost. ``t0 + softplus(raw)`` is above ``t0`` for
every ``raw`` and smooth; its slope ``sigmoid(raw)`` is 0.63 at the default
``T = 1`` and tends to 1 for long intervals.
"""

from __future__ import annotations

import dataclasses
import math

from odelayers._options import SolverOptions


def raw_from_span(span: float) -> float:
    """The inverse of softplus: ``raw`` with ``softplus(raw) = span`` (``span > 0``)."""
    # log(exp(span) - 1), written to stay finite for large and tiny spans.
    return span + math.log(-math.expm1(-span))


def unit_interval_options(options: SolverOptions, span: float) -> SolverOptions:
    """``options`` restated for s in [0, 1] when the interval starts ``span`` long.

    Fixed-step methods keep their number of steps (a step of ``step_size`` on
    the initial interval becomes ``1 / num_steps`` of the unit interval, and
    of the learned interval once ``T`` moves): the cost of a forward pass does
    not change while ``t1`` trains. An adaptive method's ``first_step`` is
    divided by ``span``; its tolerances bound the state's error and stay.
    """
    if options.is_fixed_step:
        steps = options.num_steps
        if steps is None:
            steps = max(1, math.ceil(span / options.step_size - 1e-6))
        return dataclasses.replace(options, step_size=None, num_steps=steps)
    if options.first_step is not None:
        return dataclasses.replace(options, first_step=options.first_step / span)
    return options


def rescaled(func, t0: float, span_fn):
    """``g(s, h) = T f(t0 + s T, h)`` with ``T = span_fn()`` read at every evaluation."""

    def unit_time_dynamics(s, h):
        span = span_fn(h.dtype)
        return span * func(t0 + s * span, h)

    return unit_time_dynamics
