"""Chen et al.'s ODE-Net dynamics in PyTorch, plain TensorFlow and Keras, with shared weights.

The PyTorch module is a line-for-line copy of ``ODEfunc`` in torchdiffeq's
``examples/odenet_mnist.py`` (norm1 -> relu -> concatconv1 -> norm2 -> relu ->
concatconv2 -> norm3, GroupNorm with min(32, C) groups, 3x3 convolutions whose
first input channel is the time). The TensorFlow versions take their weights from
it, converting layouts: PyTorch is NCHW with conv kernels [out, in, kh, kw];
TensorFlow is NHWC with kernels [kh, kw, in, out].
"""

from __future__ import annotations

import numpy as np

CHANNELS = 64
SIZE = 18
BATCH = 32
GN_EPS = 1e-5  # PyTorch's GroupNorm default; Keras' default is 1e-3


# ----------------------------------------------------------------------------- PyTorch
def torch_odefunc(dim: int = CHANNELS, seed: int = 0):
    """torchdiffeq's example ``ODEfunc`` (with an NFE counter), initialised from ``seed``."""
    import torch
    import torch.nn as nn

    def norm(d):
        return nn.GroupNorm(min(32, d), d)

    class ConcatConv2d(nn.Module):
        def __init__(self, dim_in, dim_out, ksize=3, stride=1, padding=0):
            super().__init__()
            self._layer = nn.Conv2d(
                dim_in + 1, dim_out, kernel_size=ksize, stride=stride, padding=padding
            )

        def forward(self, t, x):
            tt = torch.ones_like(x[:, :1, :, :]) * t
            ttx = torch.cat([tt, x], 1)
            return self._layer(ttx)

    class ODEfunc(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.norm1 = norm(dim)
            self.relu = nn.ReLU(inplace=True)
            self.conv1 = ConcatConv2d(dim, dim, 3, 1, 1)
            self.norm2 = norm(dim)
            self.conv2 = ConcatConv2d(dim, dim, 3, 1, 1)
            self.norm3 = norm(dim)
            self.nfe = 0

        def forward(self, t, x):
            self.nfe += 1
            out = self.norm1(x)
            out = self.relu(out)
            out = self.conv1(t, out)
            out = self.norm2(out)
            out = self.relu(out)
            out = self.conv2(t, out)
            out = self.norm3(out)
            return out

    torch.manual_seed(seed)
    func = ODEfunc(dim)
    # GroupNorm starts at gamma=1, beta=0 in both frameworks; give them non-trivial
    # values so the weight transfer is actually checked.
    with torch.no_grad():
        for gn in (func.norm1, func.norm2, func.norm3):
            gn.weight.copy_(1.0 + 0.1 * torch.randn_like(gn.weight))
            gn.bias.copy_(0.1 * torch.randn_like(gn.bias))
    return func


def torch_initial_state(batch: int = BATCH, size: int = SIZE, dim: int = CHANNELS, seed: int = 1):
    """A fixed NCHW float32 initial state (standard normal), as a numpy array."""
    return np.random.default_rng(seed).standard_normal((batch, dim, size, size)).astype(np.float32)


def to_nhwc(x):
    """NCHW -> NHWC (numpy)."""
    return np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1)))


def to_nchw(x):
    """NHWC -> NCHW (numpy)."""
    return np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)))


def export_weights(func) -> dict:
    """The torch module's weights in TensorFlow layout.

    Conv kernels become [kh, kw, in, out] with the time channel at input index 0
    (where torchdiffeq puts it); GroupNorm gamma/beta are unchanged.
    """
    w = {}
    for i, conv in ((1, func.conv1), (2, func.conv2)):
        w[f"conv{i}/kernel"] = np.transpose(
            conv._layer.weight.detach().numpy(), (2, 3, 1, 0)
        ).copy()
        w[f"conv{i}/bias"] = conv._layer.bias.detach().numpy().copy()
    for i, gn in ((1, func.norm1), (2, func.norm2), (3, func.norm3)):
        w[f"norm{i}/gamma"] = gn.weight.detach().numpy().copy()
        w[f"norm{i}/beta"] = gn.bias.detach().numpy().copy()
    return w


# --------------------------------------------------------------------- plain TensorFlow
def group_norm_moments(x, gamma, beta, groups: int = 32, eps: float = GN_EPS):
    """Group normalisation the textbook way (``tf.nn.moments`` over a 5-D reshape)."""
    import tensorflow as tf

    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    g = tf.reshape(x, [-1, h, w, groups, c // groups])
    mean, var = tf.nn.moments(g, axes=[1, 2, 4], keepdims=True)
    g = (g - mean) * tf.math.rsqrt(var + eps)
    return tf.reshape(g, [-1, h, w, c]) * gamma + beta


class TFODEFunc:
    """The same dynamics as plain TensorFlow ops on ``tf.Variable``s (no Keras, no odelayers).

    ``__call__(t, y)`` takes NHWC ``y``. ``variables`` lists the trainable weights, as
    TFP's adjoint needs them (it collects watched variables from a gradient tape).
    """

    def __init__(
        self,
        weights: dict,
        norm: str = "odelayers",
        groups: int = 32,
        eps: float = GN_EPS,
        dtype=None,
    ):
        import tensorflow as tf

        import odelayers

        self.groups, self.eps = groups, eps
        self.w = {
            k: tf.Variable(v if dtype is None else v.astype(dtype), name=k.replace("/", "_"))
            for k, v in weights.items()
        }
        self.variables = list(self.w.values())
        self.norms = None
        if norm == "odelayers":  # the shipped layer, holding its own gamma and beta
            self.norms = {}
            for i in (1, 2, 3):
                gamma = self.w.pop(f"norm{i}/gamma")
                layer = odelayers.GroupNormalization(
                    groups, epsilon=eps, dtype=dtype or "float32", name=f"norm{i}"
                )
                layer.build((None, SIZE, SIZE, gamma.shape[0]))
                layer.set_weights([gamma.numpy(), self.w.pop(f"norm{i}/beta").numpy()])
                self.norms[i] = layer
            self.variables = list(self.w.values()) + [
                w.value for layer in self.norms.values() for w in layer.trainable_weights
            ]
        elif norm != "moments":
            raise ValueError(f"norm must be 'odelayers' or 'moments', got {norm!r}")

    def _norm(self, x, i):
        if self.norms is not None:
            return self.norms[i](x)
        return group_norm_moments(
            x, self.w[f"norm{i}/gamma"], self.w[f"norm{i}/beta"], self.groups, self.eps
        )

    def _concat_conv(self, t, x, i):
        import tensorflow as tf

        tt = tf.ones_like(x[..., :1]) * tf.cast(t, x.dtype)
        y = tf.nn.conv2d(tf.concat([tt, x], -1), self.w[f"conv{i}/kernel"], 1, "SAME")
        return tf.nn.bias_add(y, self.w[f"conv{i}/bias"])

    def __call__(self, t, y):
        import tensorflow as tf

        out = tf.nn.relu(self._norm(y, 1))
        out = self._concat_conv(t, out, 1)
        out = tf.nn.relu(self._norm(out, 2))
        out = self._concat_conv(t, out, 2)
        return self._norm(out, 3)


# ---------------------------------------------------------------------------- Keras
def keras_dynamics(
    weights: dict,
    norm: str = "odelayers",
    groups: int = 32,
    eps: float = GN_EPS,
    counter=None,
    norm_cls=None,
):
    """The dynamics as a Keras layer made of odelayers.ConcatConv2D and group norms.

    ``norm="odelayers"`` uses the shipped ``odelayers.GroupNormalization``,
    ``norm="keras"`` Keras' own ``keras.layers.GroupNormalization``; ``norm_cls``,
    when given, replaces both.
    The layer's ``time_index`` is the time channel's position in the kernels.
    ``call(h, t)`` as ODEBlock expects. ``counter`` (an int64 ``tf.Variable``) is
    incremented at every evaluation, like the ``nfe`` attribute of the PyTorch module;
    it is held in a closure so that it is not one of the layer's weights. The time channel's position inside
    ConcatConv2D's kernel is found by probing (see :func:`_time_channel_index`), so the
    transfer stays right whichever end odelayers puts it.
    """
    import keras

    import odelayers

    norm_layer = (
        norm_cls
        or {
            "keras": keras.layers.GroupNormalization,
            "odelayers": odelayers.GroupNormalization,
        }[norm]
    )

    class ODENetDynamics(keras.layers.Layer):
        def __init__(self, filters=CHANNELS, **kwargs):
            super().__init__(**kwargs)
            self.filters = filters
            self.norm1 = norm_layer(groups, epsilon=eps)
            self.conv1 = odelayers.ConcatConv2D(filters, 3, padding="same")
            self.norm2 = norm_layer(groups, epsilon=eps)
            self.conv2 = odelayers.ConcatConv2D(filters, 3, padding="same")
            self.norm3 = norm_layer(groups, epsilon=eps)

        def build(self, input_shape):
            self.norm1.build(input_shape)
            self.conv1.build(input_shape)
            self.norm2.build(input_shape)
            self.conv2.build(input_shape)
            self.norm3.build(input_shape)

        def call(self, h, t):
            if counter is not None:
                import tensorflow as tf

                with tf.control_dependencies([counter.assign_add(1)]):
                    h = tf.identity(h)
            out = keras.ops.relu(self.norm1(h))
            out = self.conv1(out, t=t)
            out = keras.ops.relu(self.norm2(out))
            out = self.conv2(out, t=t)
            return self.norm3(out)

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self):
            return {**super().get_config(), "filters": self.filters}

    layer = ODENetDynamics()
    layer.build((None, SIZE, SIZE, CHANNELS))
    layer.time_index = _time_channel_index(layer.conv1)
    for i, conv in ((1, layer.conv1), (2, layer.conv2)):
        kernel = weights[f"conv{i}/kernel"]
        if layer.time_index != 0:  # move t from the first input channel to the last
            kernel = np.concatenate([kernel[:, :, 1:, :], kernel[:, :, :1, :]], axis=2)
        conv_vars = {v.path.split("/")[-1]: v for v in conv.weights}
        conv_vars["kernel"].assign(kernel)
        conv_vars["bias"].assign(weights[f"conv{i}/bias"])
    for i, gn in ((1, layer.norm1), (2, layer.norm2), (3, layer.norm3)):
        gn.gamma.assign(weights[f"norm{i}/gamma"])
        gn.beta.assign(weights[f"norm{i}/beta"])
    return layer


def _time_channel_index(conv) -> int:
    """0 if ConcatConv2D puts the time channel first, else -1 (probed, not assumed).

    With a kernel that is zero except on one input channel and a zero state, the
    output is non-zero only if that channel is the time channel.
    """
    import keras

    kernel = next(v for v in conv.weights if v.path.endswith("kernel"))
    bias = next((v for v in conv.weights if v.path.endswith("bias")), None)
    saved = [keras.ops.convert_to_numpy(v) for v in (kernel, bias) if v is not None]
    probe = np.zeros_like(saved[0])
    probe[:, :, 0, :] = 1.0
    kernel.assign(probe)
    if bias is not None:
        bias.assign(np.zeros_like(saved[1]))
    out = keras.ops.convert_to_numpy(
        conv(np.zeros((1, 3, 3, saved[0].shape[2] - 1), np.float32), t=1.0)
    )
    for v, value in zip((kernel, bias), saved):
        v.assign(value)
    return 0 if np.abs(out).max() > 0 else -1
