"""``GroupNormalization``: Keras' group norm, its statistics from per-channel moments.

Keras reshapes ``[B, H, W, C]`` to ``[B, H, W, G, C/G]`` and reduces over non-adjacent
axes, which TensorFlow's CPU kernels do slowly. Here one pass over the input gives
per-channel means of ``x`` and ``x**2``, pooled per group; the backward pass is closed form.
"""

import keras
import numpy as np
from keras import backend, ops


@keras.saving.register_keras_serializable(package="odelayers")
class GroupNormalization(keras.layers.GroupNormalization):
    """Group normalisation (Wu & He, 2018), a drop-in for ``keras.layers.GroupNormalization``.

    Same arguments, weights, config and result up to rounding: the variance is
    ``E[x**2] - E[x]**2`` (clipped at 0), which in float32 matches Keras' two-pass
    variance unless a group's mean is thousands of standard deviations from zero.

    Args:
        groups: number of groups (``-1``: one per channel); must divide the channels.
        axis: the channel axis (an integer, not the batch axis).
        **kwargs: as ``keras.layers.GroupNormalization``.
    """

    def build(self, input_shape):
        # Checked before Keras' build, whose messages do not say what to change.
        if not isinstance(self.axis, int):
            message = "GroupNormalization normalises over one channel axis; axis must be"
            raise ValueError(f"{message} an integer, got {self.axis!r}.")
        rank = len(input_shape)
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ValueError(f"axis={self.axis} is not a channel axis of an input of rank {rank} "
                             f"(shape {tuple(input_shape)}); axis 0 is the batch.")  # fmt: skip
        channels = input_shape[self.axis]
        if channels is not None and self.groups != -1 and channels % self.groups:
            raise ValueError(f"The {channels} channels (axis {self.axis} of {tuple(input_shape)}) "
                             f"must be divisible by groups={self.groups}: choose groups among the "
                             f"divisors of {channels}.")  # fmt: skip
        super().build(input_shape)

    def call(self, inputs):
        # As Keras: float16/bfloat16 statistics overflow, so compute in float32.
        x = ops.cast(inputs, backend.result_type(inputs.dtype, "float32"))
        axis = self.axis % len(x.shape)
        channels = x.shape[axis]
        grouped = (self.groups, channels // self.groups)
        weight = ops.cast(self.gamma, x.dtype) if self.scale else ops.ones(channels, x.dtype)
        bias = ops.cast(self.beta, x.dtype) if self.center else ops.zeros(channels, x.dtype)
        weight, bias = ops.reshape(weight, grouped), ops.reshape(bias, grouped)
        out = _group_norm_with_gradient(axis, self.groups, self.epsilon)(x, weight, bias)
        return ops.cast(ops.cast(out, inputs.dtype), self.compute_dtype)


def _group_norm_with_gradient(axis: int, groups: int, epsilon: float):
    """``f(x, weight, bias)``: the group norm of ``x``, with its backward pass written out.

    ``weight`` and ``bias`` are gamma and beta viewed as ``[G, C/G]``. With
    ``xhat = (x - mean) * inv`` and ``g`` the upstream gradient, the closed form
    (Wu & He, 2018; PyTorch's ``native_group_norm_backward``)

        dx = inv * (gamma * g - mean_G(gamma * g) - xhat * mean_G(gamma * g * xhat))

    takes fewer passes over the state than autodiff of the forward ops.
    """

    def forward(x, weight, bias):
        rank, channels = len(x.shape), x.shape[axis]
        per_group = channels // groups
        spatial = [i for i in range(1, rank) if i != axis]
        count = float(np.prod([x.shape[i] for i in spatial], dtype=np.int64) * per_group)
        # [B, C] -> broadcastable [B, 1, ..., C, ..., 1] with C at the channel axis.
        shape = [-1] + [channels if i == axis else 1 for i in range(1, rank)]

        def per_channel_sum(t):  # [B, ..., C, ...] -> [B, G, C/G]
            total = ops.sum(t, axis=spatial) if spatial else t
            return ops.reshape(total, (-1, groups, per_group))

        def spread(t):  # [B, G, C/G] (or [B, G, 1]) -> broadcastable like x
            return ops.reshape(t + ops.zeros((groups, per_group), t.dtype), shape)

        # Per-channel moments in one pass, pooled per group [B, G, 1] (channels
        # hold equally many elements, so the mean of their means is the group's).
        sum_x = per_channel_sum(x)
        mean = ops.sum(sum_x, axis=-1, keepdims=True) / count
        mean_sq = ops.sum(per_channel_sum(ops.square(x)), axis=-1, keepdims=True) / count
        inv = ops.rsqrt(ops.maximum(mean_sq - ops.square(mean), 0.0) + epsilon)
        scale = inv * weight  # [B, G, C/G]: y = x * scale + shift
        out = x * spread(scale) + spread(bias - mean * scale)

        def grad(g):
            sum_g = per_channel_sum(g)
            sum_g_xhat = (per_channel_sum(g * x) - mean * sum_g) * inv
            d_weight, d_bias = ops.sum(sum_g_xhat, axis=0), ops.sum(sum_g, axis=0)  # [G, C/G]
            mean_g = ops.sum(weight * sum_g, axis=-1, keepdims=True) / count
            mean_g_xhat = ops.sum(weight * sum_g_xhat, axis=-1, keepdims=True) / count
            coef_x = -ops.square(inv) * mean_g_xhat  # [B, G, 1]
            const = -inv * mean_g - coef_x * mean
            d_x = g * spread(scale) + x * spread(coef_x) + spread(const)
            return d_x, d_weight, d_bias

        return out, grad

    return ops.custom_gradient(forward)
