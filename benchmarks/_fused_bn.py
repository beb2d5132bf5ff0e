"""A prototype lever for the residual CNN: Keras 2.2's batch norm on TensorFlow's fused kernel.

``reproduce.keras22.Keras22BatchNormalization`` normalises with Keras 3's ``moments``
plus element-wise ops (a dozen kernels forward and backward). For 4-D inputs
normalised over the channels, Keras 2.2 itself ran ``FusedBatchNormV3``: one kernel each
way, same normalisation (the batch's mean and biased variance). Its variance output
carries Bessel's correction ``n / (n - 1)``, which the layer's moving-statistics update
applies itself, so it is taken off here before that update; the moving statistics
are therefore the shipped layer's to rounding (checked by :func:`check_equal`).

Not shipped: measured by ``bench_resnet_epoch.py --fused-bn`` as a labelled extra row.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from reproduce.keras22 import Keras22BatchNormalization
from reproduce.resnet import compile_model


class FusedKeras22BatchNormalization(Keras22BatchNormalization):
    """The shipped layer, with its training-mode 4-D float32 path on the fused kernel."""

    def call(self, inputs, training=None, mask=None):
        fusable = self._fused_variance and inputs.dtype == tf.float32 and mask is None
        if not (training and self.trainable and fusable):
            return super().call(inputs, training=training, mask=mask)
        y, mean, bessel_variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, self.gamma, self.beta, epsilon=self.epsilon, is_training=True
        )
        n = tf.cast(tf.size(inputs) // tf.shape(inputs)[-1], bessel_variance.dtype)
        # The update below applies n / (n - 1) itself, as for the unfused moments.
        self._update_moving_statistics(mean, bessel_variance * (n - 1.0) / n, inputs)
        return y


def fused_twin(model):
    """A copy of the shipped model (same weights) whose batch norms use the fused kernel."""

    def clone(layer):
        if type(layer) is Keras22BatchNormalization:
            return FusedKeras22BatchNormalization.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    twin = keras.models.clone_model(model, clone_function=clone)
    twin.set_weights(model.get_weights())
    return compile_model(twin)


def check_equal(shape=(32, 37, 37, 64), momentum: float = 0.99, epsilon: float = 1e-3) -> dict:
    """Largest relative differences, shipped layer vs fused, after two training calls.

    Same random input and cotangent for both: the output, the gradients with respect to
    the input, scale and offset, and the moving statistics (two updates, so that the
    debiasing's second step is covered too).
    """
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal(shape).astype("float32") * 2.0 + 1.0)
    w = tf.constant(rng.standard_normal(shape).astype("float32"))
    found = {}
    for name, cls in (
        ("shipped", Keras22BatchNormalization),
        ("fused", FusedKeras22BatchNormalization),
    ):
        layer = cls(momentum=momentum, epsilon=epsilon)
        layer.build(shape)
        layer.gamma.assign(tf.linspace(0.5, 1.5, shape[-1]))
        layer.beta.assign(tf.linspace(-0.2, 0.2, shape[-1]))
        layer(x, training=True)
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = layer(x, training=True)
            loss = tf.reduce_sum(out * w)
        grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
        found[name] = [out, *grads, layer.moving_mean, layer.moving_variance]
    keys = ["output", "d input", "d gamma", "d beta", "moving mean", "moving variance"]
    return {
        k: float(tf.reduce_max(tf.abs(a - b)) / tf.maximum(tf.reduce_max(tf.abs(a)), 1e-12))
        for k, a, b in zip(keys, found["shipped"], found["fused"])
    }
