"""Mixed precision: an ``ODEBlock`` under a mixed policy integrates in float32.

Keras keeps numerically sensitive layers in float32 under ``mixed_float16``
and ``mixed_bfloat16``; an ODE solve is one. An adaptive solver's step
control compares two solutions whose difference is the error estimate: with
float16 states and dynamics (about 3 significant digits) rounding swamps that
estimate at the usual tolerances (a float16 solve refuses ``rtol < 1e-2``),
and TFP's solvers mix float16 states with float32 constants. So the block
integrates, and evaluates its dynamics, in the policy's variable dtype
(float32) and returns the policy's compute dtype, like Keras'
``BatchNormalization`` does internally.
"""

from __future__ import annotations


def is_mixed(policy) -> bool:
    """Whether ``policy`` computes in a narrower dtype than it stores variables in."""
    return policy.compute_dtype != policy.variable_dtype


def integration_dtype(policy) -> str:
    """The dtype a block under ``policy`` solves in: float32 under a mixed policy."""
    return policy.variable_dtype if is_mixed(policy) else policy.compute_dtype


def compute_dynamics_in(dynamics, dtype: str) -> None:
    """Make ``dynamics`` and its sub-layers that follow a mixed policy compute in ``dtype``.

    Layers given an explicit non-mixed dtype keep it (the block's build then
    reports a mismatch). Sub-layers must exist when this runs, i.e. be
    created in the dynamics' ``__init__``, as Keras recommends.
    """
    for layer in dynamics._flatten_layers(include_self=True, recursive=True):
        if is_mixed(layer.dtype_policy):
            layer.dtype_policy = dtype
