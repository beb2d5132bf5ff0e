"""Time-aware building blocks for ODE dynamics (Chen et al., 2018).

Both see the time ``t`` as one extra input: a constant channel (``ConcatConv2D``,
torchdiffeq's ``ConcatConv2d``) or a constant feature (``ConcatDense``) put in
front of the state. Written with ``keras.ops``: they work on every backend.
"""

from __future__ import annotations

import keras
from keras import ops


def _time_column(h, t):
    """A tensor shaped like ``h[..., :1]`` filled with ``t``."""
    return ops.ones_like(h[..., :1]) * ops.cast(t, h.dtype)


@keras.saving.register_keras_serializable(package="odelayers")
class ConcatConv2D(keras.layers.Layer):
    """``Conv2D`` over ``[t, h]``: the state ``h`` [B, H, W, C] with a channel filled with ``t``.

    Use it inside an ODE's dynamics layer, whose ``call(h, t)`` receives the
    time from ``ODEBlock``. The defaults (``padding="same"``, stride 1) keep
    the spatial size, as an ODE state needs.

    Args:
        filters, kernel_size, strides, padding, dilation_rate, activation,
        use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer: as in ``keras.layers.Conv2D`` (channels last).
        **kwargs: ``keras.layers.Layer`` arguments (``name``, ``dtype``, ...).

    Call arguments:
        h: state, [B, H, W, C].
        t: scalar time (tensor or number). Defaults to 0.
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="same",
        dilation_rate=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.conv = keras.layers.Conv2D(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            data_format="channels_last",
            dtype=self.dtype_policy,
            name="conv",
        )

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        channels = None if input_shape[-1] is None else input_shape[-1] + 1
        self.conv.build(input_shape[:-1] + (channels,))

    def call(self, h, t=0.0):
        # conv([t, h]) = conv(h) + t * conv(1): the time channel's contribution
        # is one fixed map [1, H', W', filters] (constant but near the borders,
        # where the zero padding cuts the kernel off) scaled by t. Computing it
        # on a single one-channel image, instead of concatenating a channel of
        # t onto every state, saves a copy of the state per call and keeps the
        # state convolution at C input channels (e.g. 64, which oneDNN's
        # blocked layouts handle whole, where 65 is padded); see finding 6 of
        # benchmarks/README.md for what it is worth. Same weights (one kernel
        # over C + 1 channels, time first) and the same result.
        conv = self.conv
        kernel = ops.cast(conv.kernel, h.dtype)
        options = dict(
            strides=conv.strides,
            padding=conv.padding,
            data_format="channels_last",
            dilation_rate=conv.dilation_rate,
        )
        # One split (its gradient is one concatenation), not two slices (two
        # zero-filled kernel-sized gradients).
        time_kernel, state_kernel = ops.split(kernel, [1], axis=2)
        out = ops.conv(h, state_kernel, **options)
        time_map = ops.conv(ops.ones_like(h[:1, :, :, :1]), time_kernel, **options)
        shift = ops.cast(t, h.dtype) * time_map
        if conv.use_bias:
            shift = shift + ops.cast(conv.bias, h.dtype)
        return conv.activation(out + shift)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        return self.conv.compute_output_shape(input_shape[:-1] + (input_shape[-1] + 1,))

    def get_config(self):
        conv = self.conv.get_config()
        config = super().get_config()
        for key in (
            "filters",
            "kernel_size",
            "strides",
            "padding",
            "dilation_rate",
            "activation",
            "use_bias",
            "kernel_initializer",
            "bias_initializer",
            "kernel_regularizer",
            "bias_regularizer",
        ):
            config[key] = conv[key]
        return config


@keras.saving.register_keras_serializable(package="odelayers")
class ConcatDense(keras.layers.Layer):
    """``Dense`` over ``[t, h]``: the state ``h`` [B, D] with a feature equal to ``t``.

    Args:
        units, activation, use_bias, kernel_initializer, bias_initializer,
        kernel_regularizer, bias_regularizer: as in ``keras.layers.Dense``.
        **kwargs: ``keras.layers.Layer`` arguments (``name``, ``dtype``, ...).

    Call arguments:
        h: state, [..., D].
        t: scalar time (tensor or number). Defaults to 0.
    """

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            dtype=self.dtype_policy,
            name="dense",
        )

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        features = None if input_shape[-1] is None else input_shape[-1] + 1
        self.dense.build(input_shape[:-1] + (features,))

    def call(self, h, t=0.0):
        return self.dense(ops.concatenate([_time_column(h, t), h], axis=-1))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.dense.units,)

    def get_config(self):
        dense = self.dense.get_config()
        config = super().get_config()
        for key in (
            "units",
            "activation",
            "use_bias",
            "kernel_initializer",
            "bias_initializer",
            "kernel_regularizer",
            "bias_regularizer",
        ):
            config[key] = dense[key]
        return config
