"""What R keras computed in 2019 (Keras 2.2 on TensorFlow 1.x), as Keras 3 components.

The same R call computes something else in Keras 3 in two places the report's
scripts reach (checked against the Keras 2.2 and TensorFlow 1.x sources; the
README's "Fidelity" section has the whole table):

* ``loss = "binary_crossentropy"``: Keras 2.2 clipped the output probabilities
  to [1e-7, 1 - 1e-7], turned them back into logits with log(p / (1 - p)) and
  applied sigmoid cross-entropy, averaged over the last axis. Keras 3 reads
  the logits that ``sigmoid``/``softmax`` cache on their output
  (``_keras_logits``) and uses them unclipped. For a 2-unit softmax (the
  residual CNN) that is another objective, not a rounding difference:
  :class:`Keras22BinaryCrossentropy` computes Keras 2.2's.
* ``layer_batch_normalization``: Keras 2.2 kept zero-debiased moving averages
  (TensorFlow's ``assign_moving_average(..., zero_debias=True)``) and fed the
  moving variance a bias-corrected batch variance.
  :class:`Keras22BatchNormalization` does the same.

:func:`loss` and :func:`batch_normalization` pick between them and today's
Keras 3 behaviour by ``semantics`` (:data:`reproduce.settings.SEMANTICS_OPTIONS`).
"""

from __future__ import annotations

from reproduce._quiet import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402  (after the quiet import above, on purpose)
from keras import ops  # noqa: E402

from reproduce import settings  # noqa: E402

__all__ = [
    "EPSILON",
    "Keras22BatchNormalization",
    "Keras22BinaryCrossentropy",
    "batch_normalization",
    "check_semantics",
    "loss",
]

#: Keras 2.2's ``K.epsilon()``, the clipping bound of its cross-entropy.
EPSILON = 1e-7


def check_semantics(semantics: str) -> str:
    """``semantics`` if it is one of :data:`reproduce.settings.SEMANTICS_OPTIONS`, else ValueError."""
    if semantics not in settings.SEMANTICS_OPTIONS:
        raise ValueError(
            f"semantics must be one of {settings.SEMANTICS_OPTIONS}, not {semantics!r}"
        )
    return semantics


@keras.saving.register_keras_serializable(package="reproduce")
class Keras22BinaryCrossentropy(keras.losses.Loss):
    """Keras 2.2's ``binary_crossentropy`` on probabilities (TensorFlow backend).

    ``p`` is clipped to [1e-7, 1 - 1e-7], ``z = log(p / (1 - p))``, and the
    loss per sample is the mean over the last axis of
    ``max(z, 0) - z * y + log(1 + exp(-|z|))`` (``tf.nn.sigmoid_cross_entropy_with_logits``);
    the batch loss is the mean over samples. It reads the probabilities
    only, never the logits Keras 3 caches on a ``sigmoid``/``softmax`` output,
    so a saturated output costs at most ``log(1 / 1e-7 - 1)``, about 16.12.
    """

    def __init__(self, name: str = "binary_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        # Keras 2.2 gave a vector of labels the output's trailing axis of 1.
        if len(y_true.shape) == len(y_pred.shape) - 1:
            y_true = ops.expand_dims(y_true, -1)
        p = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
        z = ops.log(p / (1.0 - p))
        per_unit = ops.relu(z) - z * y_true + ops.log1p(ops.exp(-ops.abs(z)))
        return ops.mean(per_unit, axis=-1)


@keras.saving.register_keras_serializable(package="reproduce")
class Keras22BatchNormalization(keras.layers.BatchNormalization):
    """Batch normalisation with Keras 2.2's moving statistics; otherwise Keras 3's layer.

    Training-mode outputs (normalised with the batch's own mean and biased
    variance) and inference (with the moving statistics) are Keras 3's. What
    differs is how the moving statistics follow the batches, as Keras 2.2 did
    through ``K.moving_average_update``:

    * zero-debiased averages: after ``t`` updates a moving statistic holds
      ``b_t / (1 - momentum**t)`` with ``b_t = momentum * b_{t-1} + (1 - momentum) * value``
      and ``b_0 = 0``, so its initial 0 (mean) or 1 (variance) does not linger
      (at ``t = 1`` it equals the first batch's value exactly);
    * the variance it follows is the batch variance times ``n / (n - (1 + epsilon))``,
      ``n`` the values per channel in the batch. On 4-D inputs normalised over
      the last axis Keras 2.2 used TensorFlow's fused kernel, whose batch
      variance already carries Bessel's correction ``n / (n - 1)``; there the
      factor comes on top of it (as it did).

    The number of updates ``t`` is the non-trainable weight ``debias_steps``
    (TensorFlow 1 kept it, and ``b_t``, outside the Keras layer): saved with
    the model and its checkpoints, and counted by ``count_params`` (one per
    layer). ``b_{t-1}`` is recovered from the stored average as
    ``average * (1 - momentum**(t - 1))``, so no further state is needed.
    Renormalisation and masks, which Keras 2.2 did not have, are refused.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.renorm:
            raise ValueError("Keras22BatchNormalization has no batch renormalisation")

    def build(self, input_shape):
        super().build(input_shape)
        self.debias_steps = self.add_weight(
            shape=(), name="debias_steps", initializer="zeros", trainable=False, autocast=False
        )
        # Keras 2.2's backend took the fused kernel exactly for these inputs.
        self._fused_variance = len(input_shape) == 4 and self._reduction_axes == [0, 1, 2]

    def call(self, inputs, training=None, mask=None):
        if mask is not None:
            raise ValueError("Keras22BatchNormalization does not take a mask")
        if not (training and self.trainable):
            return super().call(inputs, training=training)
        compute_dtype = keras.backend.result_type(inputs.dtype, "float32")
        inputs = ops.cast(inputs, compute_dtype)
        mean, variance = self._moments(inputs, None)
        self._update_moving_statistics(mean, variance, inputs)
        outputs = ops.batch_normalization(
            x=inputs,
            mean=mean,
            variance=variance,
            axis=self.axis,
            offset=ops.cast(self.beta, compute_dtype) if self.center else None,
            scale=ops.cast(self.gamma, compute_dtype) if self.scale else None,
            epsilon=self.epsilon,
        )
        return ops.cast(outputs, self.compute_dtype)

    def _update_moving_statistics(self, mean, variance, inputs):
        """One zero-debiased update of ``moving_mean`` and ``moving_variance`` (see the class)."""
        channels = inputs.shape[self.axis]
        n = ops.cast(ops.size(inputs), variance.dtype) / channels  # values per channel
        if self._fused_variance:
            variance = variance * n / ops.maximum(n - 1.0, 1.0)
        variance = variance * n / (n - (1.0 + self.epsilon))
        momentum = ops.cast(self.momentum, variance.dtype)
        steps = ops.cast(self.debias_steps, variance.dtype)
        before = 1.0 - ops.power(momentum, steps)  # 0 before the first update: b_0 = 0
        after = 1.0 - ops.power(momentum, steps + 1.0)
        for average, value in ((self.moving_mean, mean), (self.moving_variance, variance)):
            biased = ops.cast(average, value.dtype) * before
            biased = biased * momentum + value * (1.0 - momentum)
            average.assign(ops.cast(biased / after, average.dtype))
        self.debias_steps.assign(steps + 1.0)


def loss(name: str, semantics: str = settings.SEMANTICS):
    """The loss R's ``compile(loss = name)`` meant: Keras 2.2's under ``"keras22"``, else Keras 3's.

    Only ``"binary_crossentropy"`` is known (the one loss the report uses).
    """
    if name != "binary_crossentropy":
        raise ValueError(f"no Keras 2.2 counterpart is defined for the loss {name!r}")
    if check_semantics(semantics) == "keras22":
        return Keras22BinaryCrossentropy()
    return name


def batch_normalization(semantics: str = settings.SEMANTICS, **kwargs):
    """``layer_batch_normalization(...)``: Keras 2.2's moving statistics under ``"keras22"``."""
    if check_semantics(semantics) == "keras22":
        return Keras22BatchNormalization(**kwargs)
    return keras.layers.BatchNormalization(**kwargs)
