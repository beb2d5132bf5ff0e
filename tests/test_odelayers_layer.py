"""ODEBlock, ConcatConv2D and ConcatDense as Keras layers (eager calls)."""

import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import odelayers  # noqa: E402


@keras.saving.register_keras_serializable(package="odelayers_tests")
class Residual(keras.layers.Layer):
    """f(h, t) = tanh([t, h] W + b): a time-aware residual branch."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dense = odelayers.ConcatDense(units, activation="tanh", dtype=self.dtype_policy)

    def call(self, h, t):
        return self.dense(h, t=t)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def test_euler_with_unit_steps_is_a_weight_tied_resnet():
    # Section 7.4: a_{k+1} = a_k + f(a_k, t = k) is Euler's method with step 1.
    keras.utils.set_random_seed(0)
    depth = 4
    f = Residual(3)
    block = odelayers.ODEBlock(
        f, t0=0.0, t1=float(depth), method="euler", step_size=1.0, gradient="backprop"
    )
    x = tf.random.stateless_normal([5, 3], seed=[1, 2])
    ode_output = block(x)

    h = x
    for k in range(depth):  # the same layer (same weights) in every block
        h = h + f(h, t=tf.constant(float(k)))
    np.testing.assert_allclose(ode_output.numpy(), h.numpy(), rtol=1e-6, atol=1e-6)
    assert block.nfe == depth


def test_concat_dense_sees_time_as_an_extra_feature():
    layer = odelayers.ConcatDense(2, kernel_initializer="glorot_uniform", bias_initializer="ones")
    h = tf.constant([[1.0, 2.0, 3.0]])
    out = layer(h, t=tf.constant(0.5))
    kernel, bias = (v.numpy() for v in layer.dense.weights)
    assert kernel.shape == (4, 2)
    np.testing.assert_allclose(
        out.numpy(), np.array([[0.5, 1.0, 2.0, 3.0]]) @ kernel + bias, rtol=1e-6
    )


def test_concat_conv2d_sees_time_as_an_extra_channel():
    layer = odelayers.ConcatConv2D(4, 3)
    h = tf.random.stateless_normal([2, 5, 5, 3], seed=[3, 4])
    out = layer(h, t=tf.constant(0.25))
    assert out.shape == (2, 5, 5, 4)
    kernel, bias = layer.conv.weights
    assert kernel.shape == (3, 3, 4, 4)
    with_time = tf.concat([tf.fill([2, 5, 5, 1], 0.25), h], axis=-1)
    expected = tf.nn.conv2d(with_time, kernel, strides=1, padding="SAME") + bias
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


def test_conv_ode_block_on_feature_maps():
    class ConvDynamics(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.conv1 = odelayers.ConcatConv2D(4, 3, activation="relu")
            self.conv2 = odelayers.ConcatConv2D(4, 3)

        def call(self, h, t):
            return self.conv2(self.conv1(h, t=t), t=t)

    block = odelayers.ODEBlock(ConvDynamics(), method="rk4", num_steps=2)
    x = tf.random.stateless_normal([2, 6, 6, 4], seed=[5, 6])
    y = block(x)
    assert y.shape == x.shape
    assert block.nfe == 8  # 2 steps x 4 stages
    assert not np.allclose(y.numpy(), x.numpy())


def constant_rate_dynamics(units, dtype="float32"):
    """dh/dt = 1 (zero kernel, unit bias): h(t) = h(t0) + (t - t0) in every channel."""
    return odelayers.ConcatDense(
        units, kernel_initializer="zeros", bias_initializer="ones", dtype=dtype
    )


def test_augment_integrates_zero_channels_and_keeps_them():
    block = odelayers.ODEBlock(constant_rate_dynamics(5), t0=0.0, t1=2.0, augment=2)
    x = tf.random.stateless_normal([4, 3], seed=[7, 8])
    y = block(x)
    assert y.shape == (4, 5)
    np.testing.assert_allclose(y.numpy()[:, :3], x.numpy() + 2.0, rtol=1e-5)
    np.testing.assert_allclose(y.numpy()[:, 3:], 2.0, rtol=1e-5)
    assert block.compute_output_shape((None, 3)) == (None, 5)


def test_t_eval_returns_the_trajectory_batch_first():
    block = odelayers.ODEBlock(constant_rate_dynamics(2), t0=0.0, t1=1.0, t_eval=[0.25, 0.5, 1.0])
    x = tf.zeros([3, 2])
    y = block(x)
    assert y.shape == (3, 3, 2)
    np.testing.assert_allclose(y.numpy()[0, :, 0], [0.25, 0.5, 1.0], rtol=1e-5)
    starting = odelayers.ODEBlock(constant_rate_dynamics(2), t0=0.0, t1=1.0, t_eval=[0.0, 1.0])
    np.testing.assert_allclose(starting(x).numpy()[0, :, 0], [0.0, 1.0], atol=1e-6)


def test_autonomous_sequential_dynamics():
    dynamics = keras.Sequential([keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(2)])
    block = odelayers.ODEBlock(dynamics, method="midpoint", step_size=0.5)
    x = tf.ones([3, 2])
    expected = x
    block(x)  # build
    for _ in range(2):
        half = expected + 0.25 * dynamics(expected)
        expected = expected + 0.5 * dynamics(half)
    np.testing.assert_allclose(block(x).numpy(), expected.numpy(), rtol=1e-5)


def test_float64_block_matches_closed_form():
    # dh/dt = -h  ->  h(1) = h(0) / e, solved in float64.
    dynamics = odelayers.ConcatDense(
        2, kernel_initializer="zeros", bias_initializer="zeros", dtype="float64"
    )
    block = odelayers.ODEBlock(dynamics, rtol=1e-10, atol=1e-12, dtype="float64")
    block.build((None, 2))
    kernel = dynamics.dense.kernel
    kernel.assign(np.vstack([np.zeros((1, 2)), -np.eye(2)]))  # row 0 multiplies t
    x = np.array([[1.0, -2.0]])
    y = block(x)
    assert y.dtype == tf.float64
    # Beyond float32's reach; the error left is that of dopri5's 4th-order
    # interpolation at t1 (~h^5), as in SciPy and torchdiffeq.
    np.testing.assert_allclose(y.numpy(), x / np.e, rtol=1e-7)


def test_config_round_trip_rebuilds_an_equal_block():
    block = odelayers.ODEBlock(
        Residual(4),
        t0=0.5,
        t1=2.0,
        method="rk4",
        num_steps=3,
        gradient="backprop",
        augment=1,
        nfe_metric_name="nfe_a",
    )
    x = tf.random.stateless_normal([2, 3], seed=[9, 10])
    y = block(x)
    config = block.get_config()
    clone = odelayers.ODEBlock.from_config(config)
    assert clone.get_config() == config
    clone.build((None, 3))
    clone.set_weights(block.get_weights())
    np.testing.assert_allclose(clone(x).numpy(), y.numpy(), rtol=1e-6)
    assert config["dynamics"]["class_name"] == "Residual"
    assert clone.nfe_metric.name == "nfe_a"


@pytest.mark.parametrize(
    "make, error, text",
    [
        (
            lambda: odelayers.ODEBlock(Residual(4)),
            ValueError,
            "maps a state of shape (2, 3) to (2, 4)",
        ),
        (
            lambda: odelayers.ODEBlock(Residual(3), augment=2),
            ValueError,
            "Make its last layer output 5 features",
        ),
        (
            lambda: odelayers.ODEBlock(Residual(3), dtype="float64"),
            ValueError,
            "computes in float32 but the ODEBlock in float64",
        ),
        (lambda: odelayers.ODEBlock(Residual(3), method="heun"), ValueError, "Valid methods:"),
        (
            lambda: odelayers.ODEBlock(Residual(3), gradient="forward"),
            ValueError,
            "Valid modes: 'adjoint', 'backprop'",
        ),
        (lambda: odelayers.ODEBlock(Residual(3), method="euler"), ValueError, "pass step_size=..."),
        (
            lambda: odelayers.ODEBlock(Residual(3), t0=1.0, t1=1.0),
            ValueError,
            "t1 must be greater than t0",
        ),
        (
            lambda: odelayers.ODEBlock(Residual(3), t_eval=[0.5, 2.0]),
            ValueError,
            "t_eval must lie within [t0, t1]",
        ),
        (
            lambda: odelayers.ODEBlock(Residual(3), augment=-1),
            ValueError,
            "augment must be a non-negative integer",
        ),
        (
            lambda: odelayers.ODEBlock(lambda h, t: h),
            TypeError,
            "dynamics must be a keras.layers.Layer",
        ),
    ],
)
def test_misconfigured_blocks_say_what_to_change(make, error, text):
    with pytest.raises(error) as info:
        make()(tf.ones([2, 3]))
    assert text in str(info.value)


def _other_backend():
    """A Keras backend other than TensorFlow that can load here, or None.

    (Keras' numpy backend imports jax for its FFT, so it needs jax too.)
    """
    import importlib.util

    if importlib.util.find_spec("jax"):
        return "numpy"
    if importlib.util.find_spec("torch"):
        return "torch"
    return None


def _import_under(backend_code):
    script = f"import keras\n{backend_code}\nimport odelayers\n"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180
    )


def test_import_refuses_another_keras_backend_naming_the_fix():
    result = _import_under("keras.backend.backend = lambda: 'jax'")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("odelayers.errors.UnsupportedBackendError:"), last
    assert "running on 'jax'" in last and "KERAS_BACKEND=tensorflow" in last, last


def test_other_keras_backend_is_refused_at_import():
    backend = _other_backend()
    if backend is None:
        pytest.skip("no Keras backend besides TensorFlow is installed")
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run(
        [sys.executable, "-c", "import odelayers"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert (
        "UnsupportedBackendError" in result.stderr and "KERAS_BACKEND=tensorflow" in result.stderr
    )


@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(strides=2),
        dict(padding="valid"),
        dict(dilation_rate=2, activation="tanh"),
        dict(use_bias=False),
    ],
    ids=["same", "strides2", "valid", "dilated-tanh", "no-bias"],
)
def test_concat_conv2d_equals_convolving_the_concatenated_time_channel(options):
    # ConcatConv2D computes conv([t, h]) as conv(h) + t conv(1); values and
    # gradients (state, time, kernel, bias) must be those of the definition.
    layer = odelayers.ConcatConv2D(4, 3, dtype="float64", **options)
    h = tf.random.stateless_normal([2, 7, 7, 3], seed=[5, 6], dtype=tf.float64)
    t = tf.constant(0.7, tf.float64)
    layer(h, t=t)
    conv = layer.conv

    def definition(h, t):
        with_time = tf.concat([tf.fill([2, 7, 7, 1], t), h], axis=-1)
        return conv(with_time)  # the inner Conv2D over C + 1 channels

    weights = [w for w in layer.trainable_variables]
    results = []
    for fn in (lambda h, t: layer(h, t=t), definition):
        with tf.GradientTape() as tape:
            tape.watch([h, t])
            out = fn(h, t)
            loss = tf.reduce_sum(tf.sin(out))
        results.append([out, *tape.gradient(loss, [h, t, *weights])])
    for got, expected in zip(*results):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-10, atol=1e-12)
