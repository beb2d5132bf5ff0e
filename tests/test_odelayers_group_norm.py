"""odelayers.GroupNormalization against keras.layers.GroupNormalization: same maths, weights, config.

Tolerances. Both layers compute the same normalisation; they differ in how
the group variance is summed: Keras subtracts the mean first (two passes),
ours takes ``E[x**2] - E[x]**2`` from per-channel sums. For the inputs here
(|mean| <= 1.5 standard deviations) that loses under two bits, so outputs
agree to a few units in the last place of their magnitude (~1): 2e-5 in
float32 (~170 ulps at 1, headroom for the reduction order of sums over up to
2,500 elements) and 1e-11 in float64. Gradients with respect to gamma and
beta are sums over the batch and the spatial axes, hence compared relative to
their largest element.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import odelayers

TOL = {"float32": 2e-5, "float64": 1e-11}

CASES = [
    # shape, groups, epsilon, axis
    ((4, 9, 9, 64), 32, 1e-3, -1),  # the ODE-Net's layout, 2 channels per group
    ((3, 6, 5, 32), 8, 1e-5, -1),
    ((2, 7, 12), 3, 1e-3, -1),  # a sequence
    ((5, 12), 4, 1e-1, -1),  # no spatial axes: statistics within each example's group
    ((2, 16, 4, 3), 4, 1e-3, 1),  # channels first
    ((2, 4, 4, 6), -1, 1e-3, -1),  # instance norm
    ((2, 50, 50, 8), 1, 1e-6, -1),  # layer norm over 20,000 elements
]


def _pair(shape, groups, epsilon, axis, dtype, rng, **kwargs):
    """Both layers built on ``shape``, with the same random gamma and beta."""
    ours = odelayers.GroupNormalization(groups, axis=axis, epsilon=epsilon, dtype=dtype, **kwargs)
    theirs = keras.layers.GroupNormalization(
        groups, axis=axis, epsilon=epsilon, dtype=dtype, **kwargs
    )
    ours.build(shape)
    theirs.build(shape)
    weights = [1.0 + 0.5 * rng.standard_normal(w.shape) for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    return ours, theirs


def _output_and_gradients(layer, x, cotangent):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(layer(x) * cotangent)
    grads = tape.gradient(loss, [x] + layer.trainable_weights)
    return [layer(x).numpy()] + [g.numpy() for g in grads]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, groups, epsilon, axis", CASES)
def test_outputs_and_gradients_equal_keras(shape, groups, epsilon, axis, dtype):
    rng = np.random.default_rng([*shape, abs(groups)])
    ours, theirs = _pair(shape, groups, epsilon, axis, dtype, rng)
    # Per-channel offsets and scales, so that groups differ and means are non-zero.
    channel_shape = [1] * len(shape)
    channel_shape[axis] = shape[axis]
    x = rng.standard_normal(shape) * rng.uniform(0.2, 3.0, channel_shape)
    x = (x + rng.uniform(-1.5, 1.5, channel_shape)).astype(dtype)
    cotangent = rng.standard_normal(shape).astype(dtype)
    got = _output_and_gradients(ours, x, cotangent)
    want = _output_and_gradients(theirs, x, cotangent)
    names = ["output", "d/dx", "d/dgamma", "d/dbeta"]
    for name, a, b in zip(names, got, want):
        assert a.dtype == b.dtype == np.dtype(dtype), name
        scale = max(1.0, float(np.abs(b).max()))
        np.testing.assert_allclose(a, b, rtol=0, atol=TOL[dtype] * scale, err_msg=name)


@pytest.mark.parametrize("shape, groups, axis", [((3, 5, 5, 8), 4, -1), ((2, 6, 4), 2, 1)])
def test_second_order_gradients_equal_keras(shape, groups, axis):
    # The backward pass is written out (a custom gradient): differentiating it
    # again (a Jacobian penalty, a Hessian-vector product) must match autodiff
    # of Keras' layer, in float64 so that only the maths can differ.
    rng = np.random.default_rng(7)
    ours, theirs = _pair(shape, groups, 1e-3, axis, "float64", rng)
    x = tf.constant(rng.standard_normal(shape) + 0.5)
    cotangent = tf.constant(rng.standard_normal(shape))

    def second_order(layer):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = tf.reduce_sum(layer(x) * cotangent)
            dx, dgamma = inner.gradient(y, [x, layer.gamma])
            penalty = tf.reduce_sum(dx**2) + tf.reduce_sum(dgamma**2)
        grads = outer.gradient(penalty, [x, layer.gamma, layer.beta])
        # beta shifts the output only: it is in neither first derivative (None).
        return [
            np.zeros(v.shape) if g is None else g.numpy()
            for g, v in zip(grads, [x, *layer.weights])
        ]

    for name, a, b in zip(
        ["d2/dx", "d2/dgamma", "d2/dbeta"], second_order(ours), second_order(theirs)
    ):
        scale = max(1.0, float(np.abs(b).max()))
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9 * scale, err_msg=name)


def test_normalises_each_group_to_zero_mean_unit_variance():
    # gamma = 1, beta = 0: every (example, group) has mean 0 and variance
    # var / (var + epsilon), whatever the input's offset and scale.
    rng = np.random.default_rng(0)
    x = (3.0 * rng.standard_normal((4, 10, 10, 16)) - 2.0).astype("float64")
    epsilon = 1e-3
    y = odelayers.GroupNormalization(4, epsilon=epsilon, dtype="float64")(x).numpy()
    xg, yg = x.reshape(4, 10, 10, 4, 4), y.reshape(4, 10, 10, 4, 4)
    var = xg.var(axis=(1, 2, 4))
    np.testing.assert_allclose(yg.mean(axis=(1, 2, 4)), 0.0, atol=1e-12)
    np.testing.assert_allclose(yg.var(axis=(1, 2, 4)), var / (var + epsilon), rtol=1e-12)


@pytest.mark.parametrize("center, scale", [(False, True), (True, False), (False, False)])
def test_without_center_or_scale_equals_keras(center, scale):
    rng = np.random.default_rng(1)
    ours, theirs = _pair((2, 5, 5, 8), 2, 1e-3, -1, "float32", rng, center=center, scale=scale)
    assert [w.path.split("/")[-1] for w in ours.weights] == [
        w.path.split("/")[-1] for w in theirs.weights
    ]
    x = rng.standard_normal((2, 5, 5, 8)).astype("float32")
    np.testing.assert_allclose(ours(x), theirs(x), atol=2e-5)


def test_weights_transfer_both_ways():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 6, 6, 32)).astype("float32")
    theirs = keras.layers.GroupNormalization(8, epsilon=1e-5)
    theirs.build(x.shape)
    theirs.set_weights([rng.standard_normal(32).astype("float32") for _ in range(2)])
    ours = odelayers.GroupNormalization(8, epsilon=1e-5)
    ours.build(x.shape)
    assert (
        [(w.path.split("/")[-1], w.shape) for w in ours.weights]
        == [(w.path.split("/")[-1], w.shape) for w in theirs.weights]
        == [("gamma", (32,)), ("beta", (32,))]
    )
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours(x), theirs(x), atol=2e-5)
    back = keras.layers.GroupNormalization(8, epsilon=1e-5)
    back.build(x.shape)
    back.set_weights(ours.get_weights())
    np.testing.assert_array_equal(back.get_weights()[0], theirs.get_weights()[0])
    np.testing.assert_allclose(back(x), ours(x), atol=2e-5)
    assert isinstance(ours, keras.layers.GroupNormalization)


def test_config_is_keras_config_and_round_trips():
    kwargs = dict(
        groups=4,
        axis=-1,
        epsilon=1e-4,
        center=False,
        scale=True,
        gamma_initializer="he_normal",
        gamma_regularizer=keras.regularizers.L2(1e-3),
        gamma_constraint=keras.constraints.NonNeg(),
        name="gn",
    )
    ours = odelayers.GroupNormalization(**kwargs)
    theirs = keras.layers.GroupNormalization(**kwargs)
    assert ours.get_config() == theirs.get_config()
    clone = odelayers.GroupNormalization.from_config(ours.get_config())
    assert clone.get_config() == ours.get_config()


def test_keras_file_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    model = keras.Sequential(
        [keras.Input((6, 6, 16)), odelayers.GroupNormalization(4, epsilon=1e-5, name="gn")]
    )
    model.layers[0].set_weights([rng.standard_normal(16).astype("float32") for _ in range(2)])
    path = tmp_path / "gn.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.get_layer("gn")) is odelayers.GroupNormalization
    x = rng.standard_normal((3, 6, 6, 16)).astype("float32")
    np.testing.assert_array_equal(loaded(x), model(x))


def test_mixed_policy_computes_in_float32_like_keras():
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((2, 6, 6, 32)) * 50.0).astype("float16")  # x**2 overflows float16
    ours, theirs = _pair((2, 6, 6, 32), 8, 1e-3, -1, "mixed_float16", rng)
    assert ours.gamma.dtype == "float32"
    y = ours(x)
    assert y.dtype == "float16"
    assert np.isfinite(y.numpy()).all()
    np.testing.assert_allclose(
        y.numpy().astype("float32"), theirs(x).numpy().astype("float32"), atol=1e-2
    )


@pytest.mark.parametrize(
    "shape, kwargs, match",
    [
        ((2, 4, 4, 30), dict(groups=4), "30 channels .* must be divisible by groups=4"),
        ((2, 4, 4, 8), dict(groups=4, axis=0), "axis 0 is the batch"),
        ((2, 4, 4, 8), dict(groups=4, axis=4), "not a channel axis"),
        ((2, 4, 4, 8), dict(groups=4, axis=[1, 2]), "must be an integer"),
        ((2, 4, 4, 4), dict(groups=8), "divisible by groups=8"),
    ],
)
def test_invalid_groups_or_axis_raise(shape, kwargs, match):
    with pytest.raises(ValueError, match=match):
        odelayers.GroupNormalization(**kwargs).build(shape)
