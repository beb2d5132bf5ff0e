"""The step-size controller's error measure and the next step size.

``error_ratio`` with ``norm="tfp"`` is the measure of ``DormandPrince._step``
in TensorFlow Probability's ``python/math/ode/dormand_prince.py``
(tensorflow_probability 0.25, Copyright The TensorFlow Probability Authors,
Apache License 2.0).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow_probability.python.math.ode import runge_kutta_util as _rk_util
from tensorflow_probability.python.math.ode import util as _tfp_util


def rms_norm(nest):
    """Root mean square over every element of a nest of tensors."""
    leaves = tf.nest.flatten(nest)
    total = tf.add_n([tf.reduce_sum(tf.square(leaf)) for leaf in leaves])
    count = sum(tf.cast(tf.size(leaf), total.dtype) for leaf in leaves)
    return tf.sqrt(total / count)


def all_finite(nest):
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(leaf)) for leaf in tf.nest.flatten(nest)])


def error_ratio(y_error, y0, y1, atol, rtol, norm):
    """How far a trial step's error estimate is over the tolerance (<= 1: accept).

    ``norm="tfp"``: TFP's ``sqrt(mean(((|error| / tol)**2)**2))`` with
    ``tol = atol + rtol max(|y0|, |y1|)`` per element. ``norm="rms"``:
    SciPy's and torchdiffeq's ``rms(error / tol)``, raised to the power
    6/5: TFP's controller scales the step by ``ratio**(-1/6)``, so this
    gives their ``rms**(-1/5)``, and it still accepts exactly when
    ``rms <= 1``. A NaN or Inf ratio becomes Inf: the step is rejected and
    shrunk instead of turning every later step size into NaN.
    """

    def scaled_square(error, a, b):
        tolerance = atol + rtol * tf.maximum(tf.abs(a), tf.abs(b))
        return tf.square(error / tolerance)

    squares = tf.nest.map_structure(scaled_square, y_error, y0, y1)
    if norm == "tfp":
        ratio = _rk_util.nest_rms_norm(squares)
    else:
        leaves = tf.nest.flatten(squares)
        count = tf.cast(tf.add_n([tf.size(x) for x in leaves]), leaves[0].dtype)
        ratio = tf.sqrt(tf.add_n([tf.reduce_sum(x) for x in leaves]) / count) ** 1.2
    return tf.where(tf.math.is_finite(ratio), ratio, tf.constant(np.inf, ratio.dtype))


def next_step_size(dt, order, ratio, safety, dfactor, ifactor):
    """TFP's step-size update; a control, so it is not differentiated."""
    return tf.stop_gradient(_tfp_util.next_step_size(dt, order, ratio, safety, dfactor, ifactor))
