"""``GroupNormalization``: Keras' group norm, with its statistics from per-channel moments.

``keras.layers.GroupNormalization`` reshapes ``[B, H, W, C]`` to
``[B, H, W, G, C/G]`` and reduces over axes 1, 2 and 4 (``ops.moments``: a mean,
then a second pass for the variance). Those axes are not adjacent, and
TensorFlow's CPU kernels reduce them slowly: on an ODE-Net's [32, 18, 18, 64]
state the layer cost as much as a 3x3 convolution (finding 7 of
benchmarks/README.md). Here the same statistics come from one pass over the
input: per-channel means of ``x`` and ``x**2`` over the spatial axes (a
reduction over leading, contiguous axes, which is fast), pooled per group on a
``[B, C]`` tensor, and the normalisation is one multiply-add per element with a
per-(example, channel) scale and shift. ``benchmarks/bench_group_norm.py``
measures the difference.
"""

from __future__ import annotations

import keras
from keras import backend, ops


@keras.saving.register_keras_serializable(package="odelayers")
class GroupNormalization(keras.layers.GroupNormalization):
    """Group normalisation (Wu & He, 2018), a drop-in for ``keras.layers.GroupNormalization``.

    Same constructor arguments, weights (``gamma`` and ``beta``, shape ``[C]``,
    not autocast), ``get_config``, dtype handling (float16/bfloat16 inputs are
    normalised in float32, the output has the layer's compute dtype) and
    result, up to rounding. Only how the group statistics are computed differs:
    from per-channel first and second moments in one pass over the input, with
    the variance as ``E[x**2] - E[x]**2`` (clipped at 0), which is several
    times faster on CPU than Keras' grouped ``ops.moments``. In float32 the
    difference to Keras' two-pass variance is rounding error as long as a
    group's mean is not thousands of standard deviations from zero; an input
    normalised upstream (as in a network's hidden layers) is far from that.

    It subclasses Keras' layer, so ``isinstance(layer,
    keras.layers.GroupNormalization)`` holds and weights move either way with
    ``get_weights``/``set_weights``; it keeps Keras' name, being that layer
    with a faster ``call``, and is serialised as ``odelayers>GroupNormalization``,
    apart from Keras' own.

    Args:
        groups: number of groups (``-1``: one per channel, instance norm); the
            channels must be divisible by it. Defaults to 32.
        axis: the channel axis (an integer, not the batch axis). Defaults to -1.
        epsilon, center, scale, beta_initializer, gamma_initializer,
        beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint:
            as in ``keras.layers.GroupNormalization``.
        **kwargs: ``keras.layers.Layer`` arguments (``name``, ``dtype``, ...).
    """

    def build(self, input_shape):
        # Checked here, before Keras' build, for messages that say what to change
        # (Keras' own says the groups must be a multiple of the channels).
        if not isinstance(self.axis, int):
            raise ValueError(
                f"GroupNormalization normalises over one channel axis; axis must be "
                f"an integer, got {self.axis!r}."
            )
        rank = len(input_shape)
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ValueError(
                f"axis={self.axis} is not a channel axis of an input of rank {rank} "
                f"(shape {tuple(input_shape)}); axis 0 is the batch."
            )
        channels = input_shape[self.axis]
        if channels is not None and self.groups != -1 and channels % self.groups:
            raise ValueError(
                f"The {channels} channels (axis {self.axis} of {tuple(input_shape)}) "
                f"must be divisible by groups={self.groups}: choose groups among the "
                f"divisors of {channels}."
            )
        super().build(input_shape)

    def call(self, inputs):
        # As Keras: float16/bfloat16 statistics overflow, so compute in float32.
        x = ops.cast(inputs, backend.result_type(inputs.dtype, "float32"))
        rank = len(x.shape)
        axis = self.axis % rank
        channels = x.shape[axis]
        per_group = channels // self.groups
        spatial = [i for i in range(1, rank) if i != axis]
        # Per-channel moments [B, C] in one pass, then pooled per group [B, G, 1]
        # (channels hold equally many elements, so the mean of their means is the
        # group's mean).
        m1 = ops.mean(x, axis=spatial) if spatial else x
        m2 = ops.mean(ops.square(x), axis=spatial) if spatial else ops.square(x)
        m1 = ops.mean(ops.reshape(m1, (-1, self.groups, per_group)), axis=-1, keepdims=True)
        m2 = ops.mean(ops.reshape(m2, (-1, self.groups, per_group)), axis=-1, keepdims=True)
        inv = ops.rsqrt(ops.maximum(m2 - ops.square(m1), 0.0) + self.epsilon)
        scale, shift = self._scale_and_shift(m1, inv, per_group, x.dtype)
        # [B, C] -> broadcastable [B, 1, ..., C, ..., 1] with C at the channel axis.
        shape = [-1] + [channels if i == axis else 1 for i in range(1, rank)]
        out = x * ops.reshape(scale, shape) + ops.reshape(shift, shape)
        return ops.cast(ops.cast(out, inputs.dtype), self.compute_dtype)

    def _scale_and_shift(self, mean, inv, per_group, dtype):
        """Per-(example, channel) ``scale``, ``shift`` [B, C] with ``y = x * scale + shift``.

        ``mean`` and ``inv`` (the inverse standard deviation) are per group,
        [B, G, 1]; gamma and beta, viewed as [G, C/G], spread them over the
        group's channels.
        """
        if self.scale:
            weight = ops.reshape(ops.cast(self.gamma, dtype), (self.groups, per_group))
        else:
            weight = ops.ones((self.groups, per_group), dtype)
        scale = inv * weight
        shift = -mean * scale
        if self.center:
            shift = shift + ops.reshape(ops.cast(self.beta, dtype), (self.groups, per_group))
        channels = self.groups * per_group
        return ops.reshape(scale, (-1, channels)), ops.reshape(shift, (-1, channels))
