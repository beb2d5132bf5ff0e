"""What R keras computed in 2019 (Keras 2.2 on TensorFlow 1.x), as Keras 3 components. Two places
the report reaches compute something else in Keras 3: ``binary_crossentropy`` (Keras 3 reads the
unclipped logits cached on a sigmoid/softmax output; for the residual CNN's 2-unit softmax that is
another objective) and the batch normalisation's moving statistics. ``semantics``
(:data:`reproduce.settings.SEMANTICS_OPTIONS`) picks Keras 2.2's (``"keras22"``) or Keras 3's."""

from reproduce import settings
from reproduce._quiet import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402  (after the quiet import above, on purpose)
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

EPSILON = 1e-7  # Keras 2.2's K.epsilon(), the clipping bound of its cross-entropy
# The fused kernel raises any smaller epsilon to this one: below it only the element-wise ops are exact.
_FUSED_MIN_EPSILON = 1.001e-5


def _keras22(semantics: str) -> bool:
    if semantics not in (options := settings.SEMANTICS_OPTIONS):
        raise ValueError(f"semantics must be one of {options}, not {semantics!r}")
    return semantics == "keras22"


@keras.saving.register_keras_serializable(package="reproduce")
class Keras22BinaryCrossentropy(keras.losses.Loss):
    """Keras 2.2's ``binary_crossentropy``: probabilities clipped to [1e-7, 1 - 1e-7], turned into
    logits ``z = log(p / (1 - p))``, sigmoid cross-entropy averaged over the last axis. It never
    reads Keras 3's cached logits, so a saturated output costs at most ``log(1 / 1e-7 - 1)``."""

    def __init__(self, name: str = "binary_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        # Keras 2.2 gave a vector of labels the output's trailing axis of 1.
        if len(y_true.shape) == len(y_pred.shape) - 1:
            y_true = ops.expand_dims(y_true, -1)
        p = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
        z = ops.log(p / (1.0 - p))
        return ops.mean(ops.relu(z) - z * y_true + ops.log1p(ops.exp(-ops.abs(z))), axis=-1)


@keras.saving.register_keras_serializable(package="reproduce")
class Keras22BatchNormalization(keras.layers.BatchNormalization):
    """Keras 3's batch normalisation with Keras 2.2's moving statistics; no renorm, no masks.

    The moving statistics are zero-debiased (after ``t`` updates, ``b_t / (1 - momentum**t)``,
    ``b_t = momentum * b_{t-1} + (1 - momentum) * value``, ``b_0 = 0``; ``t``: the weight
    ``debias_steps``) and follow the batch variance times ``n / (n - (1 + epsilon))``, on top of
    Bessel's correction where Keras 2.2 ran the fused kernel. ``fused``: that kernel for 4-D
    float32 inputs over the last axis: None where it can, True to refuse others, False never."""

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
            raise ValueError("fused=True takes 4-D float32 inputs normalised over the last axis, "
                             "on the TensorFlow backend, unsynchronised, with epsilon >= "
                             f"1.001e-5; got input shape {input_shape}, axis {self.axis}, dtype "
                             f"{self.compute_dtype}, epsilon {self.epsilon}")  # fmt: skip
        self._use_fused = fusable and self.fused is not False

    def call(self, inputs, training=None, mask=None):
        if mask is not None:
            raise ValueError("Keras22BatchNormalization does not take a mask")
        training = bool(training and self.trainable)
        if self._use_fused and keras.backend.standardize_dtype(inputs.dtype) == "float32":
            return self._fused_call(inputs, training)
        if not training:
            return super().call(inputs, training=training)
        dtype = keras.backend.result_type(inputs.dtype, "float32")
        inputs = ops.cast(inputs, dtype)
        mean, variance = self._moments(inputs, None)
        self._update_moving_statistics(mean, variance, inputs)
        beta = ops.cast(self.beta, dtype) if self.center else None
        gamma = ops.cast(self.gamma, dtype) if self.scale else None
        outputs = ops.batch_normalization(
            inputs, mean, variance, self.axis, beta, gamma, self.epsilon
        )
        return ops.cast(outputs, self.compute_dtype)

    def _fused_call(self, inputs, training: bool):
        """TensorFlow's fused kernel (``FusedBatchNormV3``), one kernel each way as in Keras 2.2."""
        ones = tf.ones([inputs.shape[-1]], inputs.dtype)  # the kernel needs gamma and beta
        gamma, beta = self.gamma if self.scale else ones, self.beta if self.center else 0 * ones
        moving = {} if training else {"mean": self.moving_mean, "variance": self.moving_variance}
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, gamma, beta, epsilon=self.epsilon, is_training=training, **moving
        )
        if training:  # the kernel's variance carries Bessel's correction, as Keras 2.2 fed it
            self._update_moving_statistics(mean, variance, inputs, bessel_corrected=True)
        return outputs

    def _update_moving_statistics(self, mean, variance, inputs, bessel_corrected=False):
        """One zero-debiased update; ``variance`` is biased unless ``bessel_corrected`` (fused)."""
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
            biased = ops.cast(average, value.dtype) * before * momentum + value * (1.0 - momentum)
            average.assign(ops.cast(biased / after, average.dtype))
        self.debias_steps.assign(steps + 1.0)

    def get_config(self):
        return {**super().get_config(), "fused": self.fused}


def loss(name: str, semantics: str = settings.SEMANTICS):
    """R's ``compile(loss = "binary_crossentropy")``: Keras 2.2's under ``"keras22"``, else 3's."""
    if name != "binary_crossentropy":
        raise ValueError(f"no Keras 2.2 counterpart is defined for the loss {name!r}")
    return Keras22BinaryCrossentropy() if _keras22(semantics) else name


def batch_normalization(semantics: str = settings.SEMANTICS, **kwargs):
    """``layer_batch_normalization(...)``: Keras 2.2's moving statistics under ``"keras22"``."""
    layer = Keras22BatchNormalization if _keras22(semantics) else keras.layers.BatchNormalization
    return layer(**kwargs)
