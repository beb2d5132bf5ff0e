"""Layers for ODE dynamics that see the time ``t`` as an extra input (Chen et al., 2018)."""

import keras
from keras import ops

_COMMON_ARGS = (
    "activation use_bias kernel_initializer bias_initializer kernel_regularizer bias_regularizer"
).split()
_CONV_ARGS = ["filters", "kernel_size", "strides", "padding", "dilation_rate", *_COMMON_ARGS]
_DENSE_ARGS = ["units", *_COMMON_ARGS]
_CONV_OPS = ("strides", "padding", "data_format", "dilation_rate")


@keras.saving.register_keras_serializable(package="odelayers")
class ConcatConv2D(keras.layers.Layer):
    """``Conv2D`` over ``[t, h]``: the state ``[B, H, W, C]`` after a channel filled with ``t``.

    Arguments as ``keras.layers.Conv2D`` (channels last; ``padding="same"`` by
    default, keeping the state's size): ``filters``, ``kernel_size``, ``strides``,
    ``padding``, ``dilation_rate``, ``activation``, ``use_bias``, the kernel's and
    bias' initializers and regularizers. Called as ``layer(h, t=t)``.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="same", dilation_rate=1, **kwargs):
        conv_args = {k: kwargs.pop(k) for k in _COMMON_ARGS if k in kwargs}
        super().__init__(**kwargs)
        self.conv = keras.layers.Conv2D(
            filters, kernel_size, strides, padding, "channels_last", dilation_rate,
            dtype=self.dtype_policy, name="conv", **conv_args,
        )  # fmt: skip

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        channels = None if input_shape[-1] is None else input_shape[-1] + 1
        self.conv.build(input_shape[:-1] + (channels,))

    def call(self, h, t=0.0):
        # conv([t, h]) = conv(h) + t * conv(1): the time channel adds one fixed
        # map (constant but near the zero-padded borders) scaled by t. No copy
        # of the state with a channel of t, and the state convolution keeps C
        # input channels (64 fits oneDNN's blocked layouts, 65 is padded).
        conv = self.conv
        options = {name: getattr(conv, name) for name in _CONV_OPS}
        # One split: its gradient is one concatenation, not two zero-filled kernels.
        time_kernel, state_kernel = ops.split(ops.cast(conv.kernel, h.dtype), [1], axis=2)
        time_map = ops.conv(ops.ones_like(h[:1, :, :, :1]), time_kernel, **options)
        shift = ops.cast(t, h.dtype) * time_map
        if conv.use_bias:
            shift = shift + ops.cast(conv.bias, h.dtype)
        return conv.activation(ops.conv(h, state_kernel, **options) + shift)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        return self.conv.compute_output_shape(input_shape[:-1] + (input_shape[-1] + 1,))

    def get_config(self):
        conv = self.conv.get_config()
        return {**super().get_config(), **{key: conv[key] for key in _CONV_ARGS}}


@keras.saving.register_keras_serializable(package="odelayers")
class ConcatDense(keras.layers.Layer):
    """``Dense`` over ``[t, h]``: the state ``[..., D]`` after a feature equal to ``t``.

    Arguments as ``keras.layers.Dense``: ``units``, ``activation``, ``use_bias``,
    the kernel's and bias' initializers and regularizers. Called as ``layer(h, t=t)``.
    """

    def __init__(self, units, **kwargs):
        dense_args = {k: kwargs.pop(k) for k in _COMMON_ARGS if k in kwargs}
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(units, dtype=self.dtype_policy, name="dense", **dense_args)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        features = None if input_shape[-1] is None else input_shape[-1] + 1
        self.dense.build(input_shape[:-1] + (features,))

    def call(self, h, t=0.0):
        time = ops.ones_like(h[..., :1]) * ops.cast(t, h.dtype)
        return self.dense(ops.concatenate([time, h], axis=-1))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.dense.units,)

    def get_config(self):
        dense = self.dense.get_config()
        return {**super().get_config(), **{key: dense[key] for key in _DENSE_ARGS}}
