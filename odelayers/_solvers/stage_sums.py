"""Sums of Runge-Kutta stages: ``y0 + sum((dt c_j) k_j)`` over (nested) states.

``runge_kutta_step`` adapts ``runge_kutta_step`` of TensorFlow Probability's
``python/math/ode/runge_kutta_util.py`` (tensorflow_probability 0.25,
Copyright The TensorFlow Probability Authors, Apache License 2.0).
"""

from __future__ import annotations

import tensorflow as tf


def combine(y, terms):
    """``y + sum(c * k for c, k in terms)`` over (possibly nested) states."""
    coefficients = [c for c, _ in terms]

    def combine_leaf(y_leaf, *k_leaves):
        total = y_leaf
        for c, k in zip(coefficients, k_leaves):
            total = total + c * k
        return total

    return tf.nest.map_structure(combine_leaf, y, *[k for _, k in terms])


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


def _fusable(leaf, min_elements: int) -> bool:
    # In graphs only: eagerly, each op runs on its own anyway, and calls of a
    # compiled function from TFP's eager loops under a gradient tape retrace.
    if tf.executing_eagerly():
        return False
    per_example = leaf.shape[1:].num_elements() if leaf.shape.rank else None
    if per_example is None or per_example < min_elements:
        return False
    return _xla_works()


def stage_sum(y0, coefficients, k, dt, min_elements):
    """``y0 + sum((dt c_j) k_j)`` over nests in one pass (``y0=None``: no ``y0``).

    Leaves with at least ``min_elements`` elements per batch example are
    summed by one XLA-fused loop inside graphs (``fuse_min_elements``);
    smaller ones (e.g. the adjoint's parameter components) by ``add_n``,
    whose per-call cost is lower.

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
      ``min_elements``) instead of one per term plus three.
    """
    terms = [(dt * c, k_j) for c, k_j in zip(coefficients, k) if c != 0]

    def leaf_sum(y_leaf, *k_leaves):
        dtype = k_leaves[0].dtype
        scales = [tf.cast(c, dtype) for c, _ in terms]
        if _fusable(k_leaves[0], min_elements):
            fused = _fused(len(k_leaves), with_y0=y_leaf is not None)
            head = () if y_leaf is None else (y_leaf,)
            return fused(*head, tf.stack(scales), *k_leaves)
        scaled = [c * k_leaf for c, k_leaf in zip(scales, k_leaves)]
        return tf.add_n(scaled if y_leaf is None else [y_leaf, *scaled])

    k_nests = [k_j for _, k_j in terms]
    if y0 is None:
        return tf.nest.map_structure(lambda *ks: leaf_sum(None, *ks), *k_nests)
    return tf.nest.map_structure(leaf_sum, y0, *k_nests)


def runge_kutta_step(ode_fn, y0, f0, t0, dt, tableau, min_elements):
    """One explicit Runge-Kutta step with an embedded error estimate.

    TFP's ``runge_kutta_util.runge_kutta_step`` (tensorflow_probability 0.25,
    Apache 2.0), with the stage sums of :func:`stage_sum`. Returns
    ``(y1, f1, y1_error, k)``; ``f1 = ode_fn(t0 + dt, y1)`` for FSAL tableaus.
    """
    k = [f0]
    for a_i, b_i in zip(tableau.a, tableau.b):
        y_i = stage_sum(y0, b_i, k, dt, min_elements)
        k.append(ode_fn(t0 + a_i * dt, y_i))
    if not (tableau.c_sol[-1] == 0 and tableau.c_sol[:-1] == tableau.b[-1]):
        y_i = stage_sum(y0, tableau.c_sol, k, dt, min_elements)
    return y_i, k[-1], stage_sum(None, tableau.c_error, k, dt, min_elements), k
