"""ODEBlock under keras.mixed_precision: float32 solve inside a float16 model."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import odelayers  # noqa: E402

MODES = {
    "dopri5-adjoint": dict(method="dopri5", gradient="adjoint"),
    "dopri5-backprop": dict(method="dopri5", gradient="backprop"),
    "rk4-backprop": dict(method="rk4", step_size=0.25, gradient="backprop"),
}


@pytest.fixture
def mixed_float16():
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


class ConvDynamics(keras.layers.Layer):
    """Two time-aware 3x3 convolutions; remembers the dtype of the states it sees."""

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = odelayers.ConcatConv2D(8, 3, padding="same", activation="tanh")
        self.conv2 = odelayers.ConcatConv2D(channels, 3, padding="same")
        self.seen_dtypes = set()

    def call(self, h, t):
        self.seen_dtypes.add(h.dtype.name)
        return self.conv2(self.conv1(h, t), t)


def conv_model(**block_kwargs):
    """Conv stem -> ODE block -> pooling -> dense head, in the global dtype policy."""
    keras.utils.set_random_seed(0)
    block = odelayers.ODEBlock(ConvDynamics(4), name="ode_block", **block_kwargs)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 2)),
            keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
            block,
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(1),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), "mse")
    return model, block


def data(n=32):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 8, 8, 2)).astype("float32")
    return x, x.mean(axis=(1, 2, 3))[:, None].astype("float32")


@pytest.mark.parametrize("mode", sorted(MODES))
def test_fit_under_mixed_float16_solves_in_float32(mixed_float16, mode):
    x, y = data()
    model, block = conv_model(**MODES[mode])
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert block.dynamics.seen_dtypes == {"float32"}  # the solver's state
    assert block.dynamics.conv1.compute_dtype == "float32"
    assert block.compute_dtype == "float16"  # the policy's, for the layers around it
    stem = model.layers[0]
    assert block(stem(x[:2])).dtype == tf.float16
    assert model.layers[-1].compute_dtype == "float16"  # other layers keep the policy
    assert block.trainable_weights and all(w.dtype == "float32" for w in model.weights)

    # The same weights in a float32 model. The two differ by float16 rounding
    # (unit round-off 4.9e-4) of the stem's output, of the block's output and
    # in the head; relative to the output's scale that is ~1e-3. Measured:
    # max |difference| / max |prediction| = 6.8e-4 to 8.8e-4 for the three
    # modes; the bound leaves a factor 5 for other seeds and platforms.
    predictions = model.predict(x, verbose=0)
    weights = model.get_weights()
    keras.mixed_precision.set_global_policy("float32")
    reference, _ = conv_model(**MODES[mode])
    reference.set_weights(weights)
    expected = reference.predict(x, verbose=0)
    assert predictions.dtype == np.float16 and expected.dtype == np.float32
    scale = np.abs(expected).max()
    np.testing.assert_allclose(predictions, expected, rtol=0, atol=5e-3 * scale)


def test_learned_t1_under_mixed_float16_is_float32(mixed_float16):
    x, y = data()
    model, block = conv_model(method="rk4", num_steps=4, trainable_t1=True)
    history = model.fit(x, y, batch_size=32, epochs=2, verbose=0)  # one batch an epoch
    (t1,) = [w for w in block.trainable_weights if "t1_raw" in w.path]
    assert t1.dtype == "float32"
    assert history.history["t1"][0] == pytest.approx(1.0, abs=1e-6)  # not rounded to float16
    assert np.isfinite(block.current_t1)


def test_plain_float16_states_still_refuse_fine_tolerances():
    # Without a mixed policy a float16 block solves in float16, with its limits.
    block = odelayers.ODEBlock(odelayers.ConcatDense(2, dtype="float16"), dtype="float16")
    with pytest.raises(ValueError, match="finer than float16 states can resolve"):
        block(np.ones((2, 2), "float16"))
