"""Predict meat's fat content from a near-infrared spectrum with half its points missing.

A spectrum is a function of wavelength: `odelayers.CDEBlock` reads it, gaps interpolated, as a
path driving a hidden state (a Neural CDE, Kidger et al. 2020). The Tecator spectra ship inside
sktime's wheel (`pip install '.[functional]'`).

    PYTHONPATH=. python examples/functional_cde.py                 # 100 epochs of one CDE
    PYTHONPATH=. python examples/functional_cde.py --tiny --out /tmp/cde

Ends with functional_cde.png, functional_cde_results.json and a table of test RMSEs."""

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads: quiet start-up

import keras
import matplotlib
import numpy as np

import odelayers
from reproduce.functional import drop, interpolate, load

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=100)
parser.add_argument("--out", type=Path, default=Path("runs/examples"))
parser.add_argument("--tiny", action="store_true", help="five epochs on 46 spectra: for the tests")
args = parser.parse_args()
keras.utils.set_random_seed(0)

# Data: the same half of each spectrum's 100 points (850..1050 nm) dropped in every split
tecator = load("tecator")  # training (138), validation (34) and test (43) spectra
(x_train, y_train), (x_val, y_val), (x_test, y_test) = list(tecator.values())[:3]
rng, times = np.random.default_rng(0), np.linspace(0.0, 1.0, 100, dtype="float32")
if args.tiny:
    x_train, y_train, args.epochs = x_train[:46], y_train[:46], 5
# (interpolate() leaves NaN after a shorter series' end: here every spectrum is 100 points long)
x_train, x_val, x_test = (
    interpolate(drop(x, 0.5, rng), np.isnan(x).all(-1)) for x in (x_train, x_val, x_test)
)
mean, std = np.nanmean(x_train, axis=0), np.nanstd(x_train, axis=0)  # per wavelength
fat_mean, fat_std = y_train.mean(), y_train.std()
# Gaps interpolated on the spectra as measured; standardised, beside a time channel.
x_train, x_val, x_test = (
    np.array(odelayers.fill_missing(times, (x - mean) / std, observed_count=False), "float32")
    for x in (x_train, x_val, x_test)
)

# Model: CDEBlock -> the final hidden state [batch, 32] -> Dense(1)
cde = odelayers.CDEBlock(32, times=times, method="euler", gradient="backprop")
model = keras.Sequential([keras.Input((100, 2)), cde, keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
best = keras.callbacks.EarlyStopping(patience=args.epochs, restore_best_weights=True)
z_train, z_val = (y_train - fat_mean) / fat_std, (y_val - fat_mean) / fat_std
fit = dict(epochs=args.epochs, batch_size=23, callbacks=[best], verbose=2)
history = model.fit(
    x_train, z_train, validation_data=(x_val, z_val), validation_batch_size=34, **fit
)

# Evaluation: RMSE in % fat, beside always predicting the training mean
predicted = model.predict(x_test, batch_size=len(x_test), verbose=0)[:, 0] * fat_std + fat_mean
results = {
    "cde_test_rmse": float(np.sqrt(np.mean((predicted - y_test) ** 2))),
    "mean_test_rmse": float(np.sqrt(np.mean((fat_mean - y_test) ** 2))),
    "loss": [float(v) for v in history.history["loss"]],
}
print(f"{'model':28} test RMSE (% fat)")
print(f"{'Neural CDE, 50% dropped':28} {results['cde_test_rmse']:.2f}")
print(f"{'training mean':28} {results['mean_test_rmse']:.2f}")
args.out.mkdir(parents=True, exist_ok=True)
(args.out / "functional_cde_results.json").write_text(json.dumps(results, indent=2))
fig, ax = plt.subplots(figsize=(4, 4), layout="tight")
ax.scatter(y_test, predicted, s=12)  # points on the diagonal are exact predictions
ax.plot([0, 60], [0, 60], color="grey", lw=1)
ax.set(xlabel="measured fat (%)", ylabel="predicted fat (%)", title="Neural CDE, 50% dropped")
fig.savefig(args.out / "functional_cde.png", dpi=120)
