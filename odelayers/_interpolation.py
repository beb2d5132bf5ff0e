"""Paths through ``x [B, T, C]`` at knots ``t [T]``: on ``[t_k, t_k+1]`` the cubic
``x_k + b u + c u^2 + d u^3`` (``u = s - t_k``), kept as its derivative's ``b, 2c, 3d``
(each ``[T-1, B, C]``), all a CDE needs."""

import numpy as np
import tensorflow as tf

INTERPOLATIONS = ("linear", "hermite", "natural")


def coefficients(t, x, kind):
    """``{"b": ..., "c2": ..., "d3": ...}`` (linear: ``b`` only) of the path through ``x``."""
    x, h = tf.transpose(x, [1, 0, 2]), (t[1:] - t[:-1])[:, None, None]  # [T, B, C], [T-1, 1, 1]
    slope = (x[1:] - x[:-1]) / h
    if kind == "linear" or t.shape[0] == 2:  # two knots: every kind is the chord
        return {"b": slope}
    if kind == "hermite":
        # Backward differences (Morrill et al. 2021): the derivative at knot k is
        # slope k-1, known once x_k is observed, so the path up to t_k is causal.
        start, end = tf.concat([slope[:1], slope[:-1]], 0), slope
    else:  # from the natural spline's second derivatives M: zero at both ends
        rhs, off = 6 * (slope[1:] - slope[:-1]), tf.pad(h[1:-1, 0, 0], [[0, 1]])
        diagonals = tf.stack([off, 2 * (h[:-1, 0, 0] + h[1:, 0, 0]), tf.roll(off, 1, 0)])
        # One system, diagonally dominant (no pivoting); each (batch, channel) a right side.
        sides = tf.reshape(rhs, [t.shape[0] - 2, -1])
        m = tf.linalg.tridiagonal_solve(diagonals, sides, partial_pivoting=False)
        m = tf.pad(tf.reshape(m, tf.shape(rhs)), [[1, 1], [0, 0], [0, 0]])
        start, end = slope - h * (2 * m[:-1] + m[1:]) / 6, slope + h * (m[:-1] + 2 * m[1:]) / 6
    # The cubic with value and derivative (start, end) at both ends of each interval.
    c2, d3 = 2 * (3 * slope - 2 * start - end) / h, 3 * (start + end - 2 * slope) / h**2
    return {"b": start, "c2": c2, "d3": d3}


def derivative(knots, coeffs, s):
    """``dX/dt`` at the scalar time ``s``, ``[B, C]`` (clamped to the first and last interval)."""
    s = tf.reshape(tf.cast(s, knots.dtype), [1, 1])
    # A one-hot contraction, not a gather: the adjoint sums dense gradients.
    pick = lambda k, c: tf.tensordot(tf.one_hot(k, knots.shape[0] - 1, dtype=s.dtype), c, 1)  # noqa: E731
    near = 64 * float(np.finfo(s.dtype.as_numpy_dtype).eps) * tf.reduce_max(tf.abs(knots))
    j, k = (tf.searchsorted(knots[None, 1:-1], s + d, "right")[0, 0] for d in (-near, near))
    if "c2" not in coeffs:
        # Near a knot the mean of the slopes either side: a fixed step's last stage there and
        # the next step's first err oppositely, cancelling to first order (rk4: 2nd order).
        return (pick(j, coeffs["b"]) + pick(k, coeffs["b"])) / 2
    b, c2, d3 = (pick(k, coeffs[name]) for name in ("b", "c2", "d3"))
    u = s[0, 0] - pick(k, knots[:-1])
    return b + u * (c2 + u * d3)
