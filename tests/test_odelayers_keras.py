"""ODEBlock inside Keras models: fit/evaluate/predict, NFE metric, saving, float64."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import odelayers  # noqa: E402


@keras.saving.register_keras_serializable(package="odelayers_tests")
class Dynamics(keras.layers.Layer):
    """A small time-dependent MLP: dh/dt = W2 tanh(W1 [t, h]) ([t, .] = ConcatDense)."""

    def __init__(self, units, width=16, **kwargs):
        super().__init__(**kwargs)
        self.units, self.width = units, width
        self.hidden = odelayers.ConcatDense(width, activation="tanh", dtype=self.dtype_policy)
        self.out = odelayers.ConcatDense(units, dtype=self.dtype_policy)

    def call(self, h, t):
        return self.out(self.hidden(h, t=t), t=t)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "width": self.width}


def two_moons_like(n=256, seed=0):
    """Points on two interleaved arcs with labels 0/1."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, np.pi, n)
    label = rng.integers(0, 2, n)
    x = np.where(
        label[:, None] == 0,
        np.c_[np.cos(angle), np.sin(angle)],
        np.c_[1 - np.cos(angle), 0.5 - np.sin(angle)],
    )
    return (x + rng.normal(scale=0.1, size=x.shape)).astype("float32"), label.astype("float32")


def make_model(dtype="float32", **block_kwargs):
    return keras.Sequential(
        [
            keras.Input((2,), dtype=dtype),
            odelayers.ODEBlock(Dynamics(3, dtype=dtype), augment=1, dtype=dtype, **block_kwargs),
            keras.layers.Dense(1, activation="sigmoid", dtype=dtype),
        ]
    )


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(1)
    x, y = two_moons_like()
    model = make_model()
    model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=64, epochs=12, validation_data=(x[:64], y[:64]), verbose=0)
    return model, history, x, y


def test_fit_learns_the_task(trained):
    model, history, x, y = trained
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    assert history.history["accuracy"][-1] > 0.85
    results = model.evaluate(x, y, verbose=0, return_dict=True)
    assert results["accuracy"] > 0.85


def test_nfe_is_reported_in_history_and_readable(trained):
    model, history, _, _ = trained
    block = model.layers[0]
    for key in ("nfe", "val_nfe"):
        values = history.history[key]
        assert len(values) == 12
        assert all(v > 0 and float(v).is_integer() for v in values)
    # dopri5 with the automatic first step: 2 + 6 x steps evaluations.
    assert all((v - 2) % 6 == 0 for v in history.history["nfe"])
    # evaluate reports the NFE of its last batch, which block.nfe then holds.
    x, y = two_moons_like(32, seed=5)
    results = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    assert isinstance(block.nfe, int) and block.nfe == results["nfe"] > 0


def test_saved_model_loads_with_identical_outputs(trained, tmp_path):
    model, _, x, _ = trained
    path = tmp_path / "ode.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.layers[0].get_config() == model.layers[0].get_config()


def test_float64_model_with_fixed_step_backprop_trains():
    keras.utils.set_random_seed(2)
    x, y = two_moons_like(128, seed=1)
    model = make_model("float64", method="rk4", num_steps=2, gradient="backprop")
    model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy")
    history = model.fit(
        x.astype("float64"), y.astype("float64"), batch_size=64, epochs=6, verbose=0
    )
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["nfe"] == [8.0] * 6  # 2 steps x 4 stages
    out = model(x[:4].astype("float64"))
    assert out.dtype == tf.float64
    assert model.layers[0].dynamics.hidden.dense.kernel.dtype == "float64"
