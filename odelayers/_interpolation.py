"""Paths through observations ``x [B, T, C]`` at knots ``t [T]``, as per-interval cubics.

On ``[t_k, t_k+1]`` the path is ``x_k + b u + c u^2 + d u^3`` (``u = s - t_k``); a CDE
needs only its derivative ``b + u (2c + 3d u)``, so the coefficients are stored as
``b, 2c, 3d``, each ``[T-1, B, C]`` (interval first: one gather per evaluation).
"""

import tensorflow as tf

INTERPOLATIONS = ("linear", "hermite", "natural")


def coefficients(t, x, kind):
    """``{"b": ..., "c2": ..., "d3": ...}`` (linear: ``b`` only) of the path through ``x``."""
    x = tf.transpose(x, [1, 0, 2])  # [T, B, C]
    h = (t[1:] - t[:-1])[:, None, None]
    slope = (x[1:] - x[:-1]) / h
    if kind == "linear":
        return {"b": slope}
    if kind == "hermite":
        # Backward differences (Morrill et al. 2021): the derivative at knot k is
        # slope k-1, known once x_k is observed, so the path up to t_k is causal.
        start, end = tf.concat([slope[:1], slope[:-1]], 0), slope
    else:
        second = _natural_second_derivatives(h[:, 0, 0], slope)
        start = slope - h * (2 * second[:-1] + second[1:]) / 6
        end = slope + h * (second[:-1] + 2 * second[1:]) / 6
    # The cubic with value and derivative (start, end) at both ends of each interval.
    c = (3 * slope - 2 * start - end) / h
    d = (start + end - 2 * slope) / h**2
    return {"b": start, "c2": 2 * c, "d3": 3 * d}


def _natural_second_derivatives(h, slope):
    """``x''`` at the knots of the natural cubic spline (zero at both ends), ``[T, B, C]``."""
    count = h.shape[0] - 1  # interior knots
    zero = tf.zeros_like(slope[:1])
    if count == 0:
        return tf.concat([zero, zero], 0)
    rhs = 6 * (slope[1:] - slope[:-1])
    shape = tf.shape(rhs)
    none = tf.zeros([1], h.dtype)
    diagonals = tf.stack(
        [tf.concat([h[1:-1], none], 0), 2 * (h[:-1] + h[1:]), tf.concat([none, h[1:-1]], 0)]
    )
    # One tridiagonal system, every (batch, channel) a right-hand side.
    inner = tf.linalg.tridiagonal_solve(diagonals, tf.reshape(rhs, [count, -1]))
    return tf.concat([zero, tf.reshape(inner, shape), zero], 0)


def derivative(knots, coeffs, s):
    """``dX/dt`` at the scalar time ``s``, ``[B, C]`` (clamped to the first and last interval)."""
    k = tf.searchsorted(knots[None, 1:-1], tf.reshape(s, [1, 1]), side="right")[0, 0]
    rate = tf.gather(coeffs["b"], k)
    if "c2" not in coeffs:
        return rate
    u = tf.cast(s, knots.dtype) - tf.gather(knots, k)
    return rate + u * (tf.gather(coeffs["c2"], k) + u * tf.gather(coeffs["d3"], k))
