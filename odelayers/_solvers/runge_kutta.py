"""Runge-Kutta building blocks: stage sums, the error measure, step sizes.

``runge_kutta_step`` and ``error_ratio(norm="tfp")`` adapt TensorFlow Probability's
``runge_kutta_util.py`` and ``dormand_prince.py`` (tensorflow_probability 0.25,
Copyright The TensorFlow Probability Authors, Apache License 2.0).
"""

import functools

import numpy as np
import tensorflow as tf
from tensorflow_probability.python.math.ode import runge_kutta_util as _rk_util
from tensorflow_probability.python.math.ode import util as _tfp_util


def combine(y, terms):
    """``y + sum(c * k for c, k in terms)`` over (possibly nested) states."""
    coefficients, ks = zip(*terms)

    def leaf(y_leaf, *k_leaves):
        for c, k in zip(coefficients, k_leaves):
            y_leaf = y_leaf + c * k
        return y_leaf

    return tf.nest.map_structure(leaf, y, *ks)


def all_finite(nest):
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(x)) for x in tf.nest.flatten(nest)])


def _mean(nest):
    """The mean over every element of a nest of tensors."""
    leaves = tf.nest.flatten(nest)
    total = tf.add_n([tf.reduce_sum(leaf) for leaf in leaves])
    return total / tf.add_n([tf.cast(tf.size(leaf), total.dtype) for leaf in leaves])


def rms_norm(nest):
    return tf.sqrt(_mean(tf.nest.map_structure(tf.square, nest)))


@functools.cache
def _fused(num_terms: int, with_y0: bool):
    """An XLA-compiled ``[y0 +] sum(c_j k_j)``, one function per arity (each traced once)."""

    def fused_sum(*args):
        total, coefficients, k = (args[0], args[1], args[2:]) if with_y0 else (0, args[0], args[1:])
        for j in range(num_terms):
            total = total + coefficients[j] * k[j]
        return total

    return tf.function(fused_sum, jit_compile=True, autograph=False)


@functools.cache
def _xla_works() -> bool:
    """Whether XLA compiles here (some builds and device plugins lack it); checked once."""
    with tf.init_scope():
        try:
            ones = tf.ones([2])
            _fused(1, True)(ones, tf.ones([1]), ones)
            return True
        except Exception:  # noqa: BLE001 - any failure means: do not use XLA
            return False


def _fusable(leaf, min_elements: int) -> bool:
    # Graphs only: eagerly each op runs alone anyway, and a compiled function
    # called from TFP's eager loops under a tape retraces.
    if tf.executing_eagerly() or not leaf.shape.rank:
        return False
    per_example = leaf.shape[1:].num_elements()
    return per_example is not None and per_example >= min_elements and _xla_works()


def stage_sum(y0, coefficients, k, dt, min_elements):
    """``y0 + sum((dt c_j) k_j)`` over nests in one pass (``y0=None``: without ``y0``).

    ``dt * c_j`` is formed in the state's dtype: TFP casts the Python-float tableau through float32,
    which caps float64 solves near 1e-8 relative error. Leaves with at least ``min_elements``
    elements per example are summed by one XLA-fused loop inside graphs; smaller ones by ``add_n``.
    """
    terms = [(dt * c, k_j) for c, k_j in zip(coefficients, k) if c != 0]

    def leaf_sum(y_leaf, *k_leaves):
        scales = [tf.cast(c, k_leaves[0].dtype) for c, _ in terms]
        if _fusable(k_leaves[0], min_elements):
            head = () if y_leaf is None else (y_leaf,)
            return _fused(len(k_leaves), y_leaf is not None)(*head, tf.stack(scales), *k_leaves)
        scaled = [c * k_leaf for c, k_leaf in zip(scales, k_leaves)]
        return tf.add_n(scaled if y_leaf is None else [y_leaf, *scaled])

    k_nests = [k_j for _, k_j in terms]
    if y0 is None:
        return tf.nest.map_structure(lambda *ks: leaf_sum(None, *ks), *k_nests)
    return tf.nest.map_structure(leaf_sum, y0, *k_nests)


def runge_kutta_step(ode_fn, y0, f0, t0, dt, tableau, min_elements):
    """One explicit step with an embedded error estimate: ``(y1, f1, y1_error, k)``."""
    k = [f0]
    for a_i, b_i in zip(tableau.a, tableau.b):
        y_i = stage_sum(y0, b_i, k, dt, min_elements)
        k.append(ode_fn(t0 + a_i * dt, y_i))
    if not (tableau.c_sol[-1] == 0 and tableau.c_sol[:-1] == tableau.b[-1]):
        y_i = stage_sum(y0, tableau.c_sol, k, dt, min_elements)
    return y_i, k[-1], stage_sum(None, tableau.c_error, k, dt, min_elements), k


def error_ratio(y_error, y0, y1, atol, rtol, norm):
    """How far a trial step's error is over the tolerance (accept when <= 1).

    ``norm="rms"``: SciPy's and torchdiffeq's ``rms(error / tol)`` raised to 6/5, so TFP's
    ``ratio**(-1/6)`` step update becomes their ``rms**(-1/5)``. ``norm="tfp"``: TFP's
    ``sqrt(mean((error / tol)**4))``; a callable: of ``error / tol`` flattened into one vector,
    raised to 6/5 as the RMS. Here ``tol = atol + rtol max(|y0|, |y1|)``. NaN/Inf become Inf: the
    step is rejected and shrunk.
    """

    def scaled(error, a, b):
        return error / (atol + rtol * tf.maximum(tf.abs(a), tf.abs(b)))

    scaled = tf.nest.map_structure(scaled, y_error, y0, y1)
    squares = tf.nest.map_structure(tf.square, scaled)
    if callable(norm):
        flat = tf.concat([tf.reshape(x, [-1]) for x in tf.nest.flatten(scaled)], 0)
        ratio = tf.cast(norm(flat), flat.dtype) ** 1.2
    elif norm == "tfp":
        ratio = _rk_util.nest_rms_norm(squares)
    else:
        ratio = tf.sqrt(_mean(squares)) ** 1.2
    return tf.where(tf.math.is_finite(ratio), ratio, tf.constant(np.inf, ratio.dtype))


def next_step_size(dt, order, ratio, safety, dfactor, ifactor):
    """TFP's step-size update; a control, so not differentiated."""
    return tf.stop_gradient(_tfp_util.next_step_size(dt, order, ratio, safety, dfactor, ifactor))


def initial_step(ode_fn, t0, y0, f0, order, rtol, atol, controlled=lambda nest: nest):
    """Hairer's first step size (Hairer, Norsett & Wanner, 1993, II.4), as SciPy and torchdiffeq.

    Costs one evaluation. ``controlled`` picks the part of a nested state the
    norms cover, as in the step-size controller.
    """
    dtype = tf.nest.flatten(y0)[0].dtype
    rtol, atol = tf.cast(rtol, dtype), tf.cast(atol, dtype)
    scale = tf.nest.map_structure(lambda y: atol + rtol * tf.abs(y), controlled(y0))

    def norm(nest):
        return rms_norm(tf.nest.map_structure(tf.divide, controlled(nest), scale))

    d0, d1, small = norm(y0), norm(f0), tf.constant(1e-5, dtype)
    h0 = tf.where((d0 < small) | (d1 < small), tf.constant(1e-6, dtype), 0.01 * d0 / d1)
    f1 = ode_fn(t0 + h0, combine(y0, [(h0, f0)]))
    d2 = norm(tf.nest.map_structure(tf.subtract, f1, f0)) / h0
    d_max = tf.maximum(d1, d2)
    h1 = (0.01 / d_max) ** (1.0 / (order + 1))
    h1 = tf.where(d_max <= 1e-15, tf.maximum(tf.constant(1e-6, dtype), h0 * 1e-3), h1)
    # A control, not a function to differentiate: backprop would send NaN
    # through the tf.where branches (0/0 in d0/d1 when the dynamics start at 0).
    return tf.stop_gradient(tf.minimum(100.0 * h0, h1))
