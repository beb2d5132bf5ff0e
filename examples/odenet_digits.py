"""An ODE-Net (Chen et al., 2018) classifying scikit-learn's 8x8 handwritten digits.

Shows `odelayers.ODEBlock` in a plain Keras model: a conv stem, one ODE block in place of a stack
of residual blocks (dopri5, adjoint gradients), a softmax head; `compile`/`fit` log the block's
NFE; a `.keras` save/load round trip.

    PYTHONPATH=. python examples/odenet_digits.py               # a few minutes on 2 CPU cores
    PYTHONPATH=. python examples/odenet_digits.py --tiny --out /tmp/digits

Ends with odenet_digits.png (learning curves), odenet_digits_results.json and a table."""

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads: quiet start-up

import keras
import matplotlib
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import odelayers

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=15)
parser.add_argument("--out", type=Path, default=Path("runs/examples"))
parser.add_argument("--tiny", action="store_true", help="a few seconds: for the tests")
args = parser.parse_args()
epochs, width = (8, 8) if args.tiny else (args.epochs, 32)
keras.utils.set_random_seed(0)

# Data
# 1797 images of 8x8 pixels in 0..16, bundled with scikit-learn (no download).
digits = load_digits()
x = (digits.images / 16.0).astype("float32")[..., None]  # [N, 8, 8, 1] in [0, 1]
x_train, x_test, y_train, y_test = train_test_split(
    x, digits.target, test_size=0.2, stratify=digits.target, random_state=0
)
if args.tiny:  # fewer images, still every class
    x_train, y_train = x_train[:400], y_train[:400]


# Model
@keras.saving.register_keras_serializable(package="examples")  # so the .keras file loads
class Dynamics(keras.layers.Layer):
    """dh/dt = f(h, t): Chen et al.'s ODE-Net dynamics (norm, ReLU, conv seeing t, twice)."""

    def __init__(self, width, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.norm1 = odelayers.GroupNormalization(groups=min(32, width // 2))
        self.conv1 = odelayers.ConcatConv2D(width, 3)
        self.norm2 = odelayers.GroupNormalization(groups=min(32, width // 2))
        self.conv2 = odelayers.ConcatConv2D(width, 3)
        self.norm3 = odelayers.GroupNormalization(groups=min(32, width // 2))

    def call(self, h, t):
        h = self.conv1(keras.ops.relu(self.norm1(h)), t=t)
        h = self.conv2(keras.ops.relu(self.norm2(h)), t=t)
        return self.norm3(h)

    def get_config(self):
        return {**super().get_config(), "width": self.width}


block = odelayers.ODEBlock(
    Dynamics(width), t0=0.0, t1=1.0, method="dopri5", rtol=1e-3, atol=1e-3, gradient="adjoint"
)
model = keras.Sequential(
    [
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(width, 3, padding="same", activation="relu"),  # stem: 1 -> width
        block,
        keras.layers.GroupNormalization(groups=min(32, width // 2)),
        keras.layers.ReLU(),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, activation="softmax"),
    ]
)
model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"])

# Training
# validation_split takes the last 10% of the (already shuffled) training part.
start = time.perf_counter()
history = model.fit(
    x_train, y_train, batch_size=64, epochs=epochs, validation_split=0.1, verbose=2
).history
seconds = time.perf_counter() - start

# Results
test_accuracy = model.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]
args.out.mkdir(parents=True, exist_ok=True)
# Round trip: the .keras file holds the block's solver settings and the dynamics' config.
path = args.out / "odenet_digits.keras"
model.save(path)
restored = keras.saving.load_model(path)
before, after = (m.predict(x_test, verbose=0) for m in (model, restored))
same = bool(np.allclose(before, after, atol=1e-5))

fig, ax = plt.subplots(figsize=(6, 4))
epoch = np.arange(1, epochs + 1)
ax.plot(epoch, history["accuracy"], "o-", label="train")
ax.plot(epoch, history["val_accuracy"], "s--", label="validation")
ax.set(title="ODE-Net on 8x8 digits", xlabel="epoch", ylabel="accuracy")
ax.legend()
fig.tight_layout()
fig.savefig(args.out / "odenet_digits.png", dpi=100)

results = {
    "test_accuracy": float(test_accuracy),
    "nfe": int(history["nfe"][-1]),  # forward evaluations of the last training batch's solve
    "parameters": int(model.count_params()),
    "seconds": seconds,
    "round_trip_same": same,
    "history": {k: [float(v) for v in vs] for k, vs in history.items()},
}
(args.out / "odenet_digits_results.json").write_text(json.dumps(results, indent=1))
print("test accuracy   NFE  parameters  seconds  .keras round trip")
nfe, params, verdict = results["nfe"], results["parameters"], "same" if same else "DIFFERENT"
print(f"{test_accuracy:13.4f}  {nfe:4d}  {params:10,d}  {seconds:7.0f}  {verdict}")
