"""Keras 2.2's loss and batch-norm statistics (reproduce.keras22) against values computed by hand.

Every expected value is written out here as a NumPy formula of what Keras 2.2
on TensorFlow 1.x computed; none calls the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

keras = pytest.importorskip("keras")

from reproduce import keras22  # noqa: E402

EPS_CLIP = 1e-7


def _keras22_bce(y, p):
    """Keras 2.2: clip in float32, logits log(p/(1-p)), sigmoid cross-entropy, mean over units."""
    p = np.clip(np.asarray(p, np.float32), np.float32(EPS_CLIP), np.float32(1 - EPS_CLIP))
    p = p.astype(np.float64)
    y = np.asarray(y, np.float64)
    per_unit = -(y * np.log(p) + (1 - y) * np.log(1 - p))  # = sigmoid CE of logit(p)
    return per_unit.mean(axis=-1)


def test_sigmoid_outputs_with_saturated_ones():
    p = np.array([[0.2], [0.9], [0.0], [1.0], [0.5]], "float32")
    y = np.array([1.0, 0.0, 1.0, 0.0, 1.0], "float32")  # a vector, as R's fit passed it
    expected = _keras22_bce(y[:, None], p)
    loss = keras22.Keras22BinaryCrossentropy(reduction=None)
    got = np.asarray(loss(y, p))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # A confidently wrong output costs at most -log(1e-7) = 16.118 (not infinity).
    assert got[2] == pytest.approx(-np.log(1e-7), rel=1e-4)
    assert got.max() <= 16.12
    batch = float(keras22.Keras22BinaryCrossentropy()(y, p))
    assert batch == pytest.approx(expected.mean(), rel=1e-5)


def test_saturated_sigmoid_output_of_a_model_is_capped():
    """Through a real sigmoid layer: Keras 3's own loss uses the cached logits, unclipped."""
    x = np.array([[40.0], [-40.0]], "float32")  # logits far past the clipping bound
    y = np.array([[0.0], [1.0]], "float32")  # both wrong
    model = keras.Sequential([keras.Input((1,)), keras.layers.Activation("sigmoid")])
    model.compile(loss=keras22.Keras22BinaryCrossentropy())
    ours = model.evaluate(x, y, verbose=0)
    assert ours == pytest.approx(_keras22_bce(y, 1 / (1 + np.exp(-x))).mean(), rel=1e-4)
    assert ours < 16.12
    model.compile(loss="binary_crossentropy")
    assert model.evaluate(x, y, verbose=0) == pytest.approx(40.0, rel=1e-4)


def test_two_unit_softmax_case():
    """Logits (0.5, 1.5), class 1: Keras 3 gives 0.588, Keras 2.2 (R) 0.313."""
    logits = np.array([[0.5, 1.5]], "float32")
    y = np.array([[0.0, 1.0]], "float32")
    softplus = lambda v: np.log1p(np.exp(v))  # noqa: E731
    # Keras 2.2: p = softmax, z = log(p/(1-p)) = (-1, 1): mean(softplus(-1), softplus(-1)).
    r_value = softplus(-1.0)
    # Keras 3: the cached logits: mean(softplus(0.5), softplus(-1.5)).
    keras3_value = (softplus(0.5) + softplus(-1.5)) / 2
    assert r_value == pytest.approx(0.3133, abs=1e-4)
    assert keras3_value == pytest.approx(0.5877, abs=1e-4)
    p = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    assert _keras22_bce(y, p)[0] == pytest.approx(r_value, rel=1e-5)

    model = keras.Sequential([keras.Input((2,)), keras.layers.Activation("softmax")])
    model.compile(loss=keras22.Keras22BinaryCrossentropy())
    assert model.evaluate(logits, y, verbose=0) == pytest.approx(r_value, rel=1e-5)
    model.compile(loss="binary_crossentropy")
    assert model.evaluate(logits, y, verbose=0) == pytest.approx(keras3_value, rel=1e-5)


def test_differs_from_keras_loss_on_a_softmax_output_only():
    logits = keras.ops.convert_to_tensor(np.array([[0.5, 1.5], [2.0, -1.0]], "float32"))
    y = np.array([[0.0, 1.0], [1.0, 0.0]], "float32")
    softmax_output = keras.activations.softmax(logits)
    ours = np.asarray(keras22.Keras22BinaryCrossentropy(reduction=None)(y, softmax_output))
    theirs = np.asarray(keras.losses.binary_crossentropy(y, softmax_output))
    assert np.all(np.abs(ours - theirs) > 0.1)
    # On plain probabilities (no cached logits) inside the clipping bounds they agree.
    plain = np.asarray(softmax_output).copy()
    np.testing.assert_allclose(
        keras22.Keras22BinaryCrossentropy(reduction=None)(y, plain),
        keras.losses.binary_crossentropy(y, plain),
        rtol=1e-5,
    )


def test_loss_and_layer_choice_by_semantics():
    assert isinstance(keras22.loss("binary_crossentropy"), keras22.Keras22BinaryCrossentropy)
    assert keras22.loss("binary_crossentropy", "keras3") == "binary_crossentropy"
    layer = keras22.batch_normalization("keras3", momentum=0.99, name="bn")
    assert type(layer) is keras.layers.BatchNormalization
    assert isinstance(keras22.batch_normalization(), keras22.Keras22BatchNormalization)
    with pytest.raises(ValueError, match="semantics"):
        keras22.loss("binary_crossentropy", "keras2")
    with pytest.raises(ValueError, match="loss"):
        keras22.loss("mse")


# ------------------------------------------------------------- batch normalisation

MOMENTUM, EPSILON = 0.99, 1e-3


def _batches(count, shape, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(3.0, 2.0, size=shape).astype("float32") for _ in range(count)]


def _hand_moving_statistics(batches, fused: bool):
    """TensorFlow's zero-debiased moving averages of Keras 2.2's batch statistics."""
    b_mean = b_var = 0.0
    for t, x in enumerate(batches, start=1):
        values = x.reshape(-1, x.shape[-1]).astype(np.float64)
        n = len(values)
        # the fused kernel (4-D inputs) returned Bessel-corrected variances
        variance = values.var(axis=0, ddof=1 if fused else 0)
        variance = variance * n / (n - (1 + EPSILON))
        b_mean = MOMENTUM * b_mean + (1 - MOMENTUM) * values.mean(axis=0)
        b_var = MOMENTUM * b_var + (1 - MOMENTUM) * variance
        yield t, b_mean / (1 - MOMENTUM**t), b_var / (1 - MOMENTUM**t)


# (shape, the layer's ``fused``): 2-D inputs run the element-wise ops; 4-D ones the
# fused kernel by default, and the element-wise ops with fused=False.
PATHS = [((8, 3), None), ((4, 5, 5, 3), None), ((4, 5, 5, 3), False)]


@pytest.mark.parametrize("shape, fused", PATHS)
def test_moving_statistics_after_1_2_3_and_30_updates(shape, fused):
    batches = _batches(30, shape)
    layer = keras22.Keras22BatchNormalization(momentum=MOMENTUM, epsilon=EPSILON, fused=fused)
    four_d = len(shape) == 4  # Keras 2.2's fused kernel: Bessel-corrected variances
    expected = {t: (m, v) for t, m, v in _hand_moving_statistics(batches, four_d)}
    for t, x in enumerate(batches, start=1):
        layer(x, training=True)
        if t in (1, 2, 3, 30):
            mean, variance = expected[t]
            np.testing.assert_allclose(layer.moving_mean.numpy(), mean, rtol=1e-5)
            np.testing.assert_allclose(layer.moving_variance.numpy(), variance, rtol=1e-5)
            assert float(layer.debias_steps.numpy()) == t
    # After one update the average is the first batch's statistic: the initial 0 and 1 are gone.
    first = batches[0].reshape(-1, 3)
    assert not np.allclose(expected[1][0], 0.0)
    np.testing.assert_allclose(expected[1][0], first.mean(axis=0), rtol=1e-6)


@pytest.mark.parametrize("shape, fused", PATHS)
def test_inference_output_after_k_updates(shape, fused):
    batches = _batches(5, shape, seed=1)
    layer = keras22.Keras22BatchNormalization(momentum=MOMENTUM, epsilon=EPSILON, fused=fused)
    layer.build((None, *shape[1:]))
    gamma, beta = np.array([0.5, 1.0, 2.0]), np.array([0.1, -0.2, 0.3])
    layer.gamma.assign(gamma.astype("float32"))
    layer.beta.assign(beta.astype("float32"))
    for x in batches:
        layer(x, training=True)
    *_, (k, mean, variance) = _hand_moving_statistics(batches, fused=len(shape) == 4)
    assert k == 5
    x = _batches(1, (6, *shape[1:]), seed=2)[0]
    expected = (x - mean) / np.sqrt(variance + EPSILON) * gamma + beta
    np.testing.assert_allclose(layer(x, training=False), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fused", [None, False])
def test_training_outputs_equal_keras_batch_normalization(fused):
    batches = _batches(3, (4, 5, 5, 3), seed=3)
    ours = keras22.Keras22BatchNormalization(momentum=MOMENTUM, epsilon=EPSILON, fused=fused)
    theirs = keras.layers.BatchNormalization(momentum=MOMENTUM, epsilon=EPSILON)
    for layer in (ours, theirs):
        layer.build((None, 5, 5, 3))
        layer.gamma.assign(np.array([0.5, 1.5, 2.0], "float32"))
        layer.beta.assign(np.array([0.1, 0.0, -0.1], "float32"))
    for x in batches:
        got, want = ours(x, training=True), theirs(x, training=True)
        if fused is False:  # the same ops as Keras 3's layer
            np.testing.assert_array_equal(got, want)
        else:  # another kernel, another summation order
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # only the moving statistics differ: Keras 3's still remember their initial 0 and 1
    assert not np.allclose(ours.moving_mean.numpy(), theirs.moving_mean.numpy(), rtol=0.1)


def _relative(a, b):
    """Largest difference relative to the largest magnitude (elements near 0 included)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.abs(a - b).max() / np.abs(b).max()


def _train_and_infer(fused, batches, cotangent):
    """3 training steps then one inference step, each as a traced graph (as ``fit`` runs it).

    Returns, per step, the output and the gradients of ``sum(output * cotangent)`` with
    respect to the input, gamma and beta; the moving statistics after the training
    steps; and the TensorFlow op types of the training graph.
    """
    shape = batches[0].shape
    layer = keras22.Keras22BatchNormalization(momentum=MOMENTUM, epsilon=EPSILON, fused=fused)
    layer.build((None, *shape[1:]))
    layer.gamma.assign(np.linspace(0.5, 1.5, shape[-1]).astype("float32"))
    layer.beta.assign(np.linspace(-0.2, 0.2, shape[-1]).astype("float32"))

    def step(x, training):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = layer(x, training=training)
            loss = tf.reduce_sum(out * cotangent)
        return [out, *tape.gradient(loss, [x, layer.gamma, layer.beta])]

    step = tf.function(step)
    results = [step(tf.constant(x), True) for x in batches[:3]]
    statistics = [layer.moving_mean.numpy(), layer.moving_variance.numpy()]
    results.append(step(tf.constant(batches[3]), False))
    graph = step.get_concrete_function(tf.constant(batches[0]), True).graph
    return results, statistics, {op.type for op in graph.get_operations()}


def test_fused_kernel_agrees_with_the_element_wise_ops():
    """Outputs, input/gamma/beta gradients and moving statistics: fused vs fused=False."""
    batches = _batches(4, (8, 6, 6, 5), seed=5)
    cotangent = tf.constant(_batches(1, (8, 6, 6, 5), seed=6)[0] - 3.0)
    fused, fused_stats, fused_ops = _train_and_infer(None, batches, cotangent)
    plain, plain_stats, plain_ops = _train_and_infer(False, batches, cotangent)
    assert "FusedBatchNormV3" in fused_ops and "FusedBatchNormGradV3" in fused_ops
    assert not any(op.startswith("FusedBatchNorm") for op in plain_ops)
    for step_fused, step_plain in zip(fused, plain):  # 3 training steps, then inference
        for a, b in zip(step_fused, step_plain):
            assert _relative(a, b) < 1e-5
    for a, b in zip(fused_stats, plain_stats):
        assert _relative(a, b) < 1e-5
    # the statistics moved (3 updates), so inference compared more than the initial 0 and 1
    assert np.all(np.abs(plain_stats[0]) > 1.0)


def test_fused_is_refused_or_skipped_where_the_kernel_does_not_apply():
    with pytest.raises(ValueError, match="fused"):
        keras22.Keras22BatchNormalization(fused="yes")
    with pytest.raises(ValueError, match="4-D float32"):
        keras22.Keras22BatchNormalization(fused=True).build((None, 3))
    with pytest.raises(ValueError, match="4-D float32"):
        keras22.Keras22BatchNormalization(axis=1, fused=True).build((None, 5, 5, 3))
    with pytest.raises(ValueError, match="4-D float32"):
        keras22.Keras22BatchNormalization(fused=True, dtype="mixed_float16").build((2, 5, 5, 3))
    # Mixed precision falls back to the element-wise ops (float32 statistics, float16 out).
    layer = keras22.Keras22BatchNormalization(
        momentum=MOMENTUM, epsilon=EPSILON, dtype="mixed_float16"
    )
    batches = _batches(2, (4, 5, 5, 3), seed=7)
    for x in batches:
        out = layer(x, training=True)
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    *_, (_, mean, variance) = _hand_moving_statistics(batches, fused=True)
    np.testing.assert_allclose(layer.moving_mean.numpy(), mean, rtol=1e-3)
    np.testing.assert_allclose(layer.moving_variance.numpy(), variance, rtol=1e-3)


def test_config_and_weights_round_trip_through_a_saved_model(tmp_path):
    inputs = keras.Input((4, 4, 3))
    outputs = keras22.Keras22BatchNormalization(momentum=MOMENTUM, epsilon=EPSILON, name="bn")(
        inputs
    )
    model = keras.Model(inputs, outputs)
    layer = model.get_layer("bn")
    assert layer.get_config()["momentum"] == MOMENTUM
    assert layer.get_config()["fused"] is None
    assert [w.name for w in layer.non_trainable_weights] == [
        "moving_mean",
        "moving_variance",
        "debias_steps",
    ]
    batches = _batches(4, (6, 4, 4, 3), seed=4)
    for x in batches[:3]:
        layer(x, training=True)
    model.save(tmp_path / "bn.keras")
    loaded = keras.saving.load_model(tmp_path / "bn.keras")
    again = loaded.get_layer("bn")
    assert type(again) is keras22.Keras22BatchNormalization
    assert again.get_config() == layer.get_config()
    for a, b in zip(layer.weights, again.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    x = batches[3]
    np.testing.assert_array_equal(model(x, training=False), loaded(x, training=False))
    # the debias state came along: the 4th update continues the same averages
    again(x, training=True)
    *_, (t, mean, variance) = _hand_moving_statistics(batches, fused=True)
    assert t == 4
    np.testing.assert_allclose(again.moving_mean.numpy(), mean, rtol=1e-5)
    np.testing.assert_allclose(again.moving_variance.numpy(), variance, rtol=1e-5)


def test_renormalisation_and_masks_are_refused():
    with pytest.raises(ValueError, match="renormalisation"):
        keras22.Keras22BatchNormalization(renorm=True)
    layer = keras22.Keras22BatchNormalization()
    with pytest.raises(ValueError, match="mask"):
        layer(np.ones((2, 3), "float32"), training=True, mask=np.ones((2,), bool))
