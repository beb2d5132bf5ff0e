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
import tensorflow as tf  # noqa: E402
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

# TensorFlow's fused batch norm raises any smaller epsilon to this one
# (``tf.compat.v1.nn.fused_batch_norm``); below it only the unfused path is exact.
_FUSED_MIN_EPSILON = 1.001e-5


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

    ``fused`` (as in Keras 2's layer): on the TensorFlow backend, 4-D float32
    inputs normalised over the last axis run TensorFlow's fused kernel
    (``FusedBatchNormV3``, one kernel each way, as Keras 2.2 did) in training
    and in inference; other inputs (other ranks or axes, float16 or mixed
    precision, ``synchronized=True``, an epsilon under 1.001e-5, which the kernel
    would raise) run the element-wise ops of Keras 3's layer. ``None`` (the
    default) chooses so; ``True`` refuses, when the layer is built, inputs
    the fused kernel cannot take; ``False`` never uses it. Both paths compute
    the same outputs, gradients and moving statistics, to float32 rounding.
    """

    def __init__(self, *args, fused: bool | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if self.renorm:
            raise ValueError("Keras22BatchNormalization has no batch renormalisation")
        if fused not in (None, True, False):
            raise ValueError(f"fused must be None, True or False, not {fused!r}")
        self.fused = fused

    def build(self, input_shape):
        super().build(input_shape)
        self.debias_steps = self.add_weight(
            shape=(), name="debias_steps", initializer="zeros", trainable=False, autocast=False
        )
        # Keras 2.2's backend took the fused kernel exactly for these inputs.
        self._fused_variance = len(input_shape) == 4 and self._reduction_axes == [0, 1, 2]
        fusable = (
            self._fused_variance
            and keras.backend.backend() == "tensorflow"
            and self.compute_dtype == "float32"
            and not self.synchronized
            and self.epsilon >= _FUSED_MIN_EPSILON
        )
        if self.fused and not fusable:
            raise ValueError(
                "fused=True takes 4-D float32 inputs normalised over the last axis, on the "
                "TensorFlow backend, unsynchronised, with epsilon >= 1.001e-5; got input shape "
                f"{input_shape}, axis {self.axis}, dtype {self.compute_dtype}, "
                f"epsilon {self.epsilon}"
            )
        self._use_fused = fusable and self.fused is not False

    def call(self, inputs, training=None, mask=None):
        if mask is not None:
            raise ValueError("Keras22BatchNormalization does not take a mask")
        fused = self._use_fused and keras.backend.standardize_dtype(inputs.dtype) == "float32"
        if not (training and self.trainable):
            return (
                self._fused_inference(inputs) if fused else super().call(inputs, training=training)
            )
        if fused:
            outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                inputs, *self._scale_and_offset(inputs), epsilon=self.epsilon, is_training=True
            )
            # The kernel's variance carries Bessel's correction, as Keras 2.2 fed it.
            self._update_moving_statistics(mean, variance, inputs, bessel_corrected=True)
            return outputs
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

    def _scale_and_offset(self, inputs):
        """``gamma`` and ``beta``, or the ones and zeros the fused kernel needs in their place."""
        channels = inputs.shape[-1]
        gamma = self.gamma if self.scale else tf.ones([channels], inputs.dtype)
        beta = self.beta if self.center else tf.zeros([channels], inputs.dtype)
        return gamma, beta

    def _fused_inference(self, inputs):
        """Keras 3's inference output, ``(x - moving_mean) / sqrt(moving_variance + epsilon)``
        scaled and offset, from the fused kernel."""
        outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
            inputs,
            *self._scale_and_offset(inputs),
            mean=self.moving_mean,
            variance=self.moving_variance,
            epsilon=self.epsilon,
            is_training=False,
        )
        return outputs

    def _update_moving_statistics(self, mean, variance, inputs, bessel_corrected=False):
        """One zero-debiased update of ``moving_mean`` and ``moving_variance`` (see the class).

        ``variance`` is the batch's biased variance, or with ``bessel_corrected`` the
        fused kernel's, which already carries ``n / (n - 1)``.
        """
        channels = inputs.shape[self.axis]
        n = ops.cast(ops.size(inputs), variance.dtype) / channels  # values per channel
        if self._fused_variance and not bessel_corrected:
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

    def get_config(self):
        return {**super().get_config(), "fused": self.fused}


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
