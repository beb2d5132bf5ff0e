"""The report's future work (section 5): inputs that are functions. A Neural CDE on Tecator.

Tecator: near-infrared absorbance spectra of meat (100 wavelengths, 850-1050 nm) and their fat
content (%), in the UCR/UEA regression archive's split (172 training, 43 test spectra) that sktime
ships inside its wheel. Thodberg's Bayesian neural network (IEEE Trans. Neural Networks 7(1), 1996)
predicted fat to a test RMSE of about 0.36 on a related split, from principal components of the
spectra. Each sample loses a fraction of its points as in Kidger et al. 2020 (the same points
across channels; NaN marks them). The same splits and drops go to three models: a Neural CDE
(``odelayers.CDEBlock`` + Dense) and a ridge regression, both reading the gaps linearly
interpolated, and a GRU over values, mask and time. Validation: the training samples whose index is 4 modulo 5 (34 of 172);
it picks the ridge's penalty and each network's best epoch; the test split is only evaluated.
"""

from __future__ import annotations

import hashlib
import json
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from reproduce import provenance
from reproduce.atomic import atomic_write_json
from reproduce.comparison.stats import mean_interval
from reproduce.errors import ReproduceError

MODELS = ("cde", "ridge", "gru")
DROPS = (0.0, 0.3, 0.5, 0.7)
#: --quick: 2 seeds, and the fewest epochs of (10, 20, 40) after which the Neural CDE's best
#: validation RMSE so far (seed 0, no drops) is within 10% of its best in 40 epochs: 40.
PRESETS = {"full": {"seeds": 5, "epochs": 100}, "quick": {"seeds": 2, "epochs": 40}}
# 23 divides the 138 training spectra: every batch has one shape, traced once. Euler steps from
# point to point (the CDE as a sum over increments): rk4 costs 3 times as much a step.
SETTINGS = {"hidden_units": 32, "batch_size": 23, "learning_rate": 1e-2, "cde_method": "euler"}
PIP_HINT = "pip install 'neural-ode-iceberg[functional]'"


# ## Data: the .ts files inside sktime's wheel (read directly: no sktime import)
def load_tecator() -> dict:
    """Training, validation and test arrays (``x`` ``[N, T, 1]``) and the files' origin."""
    try:
        dist = metadata.distribution("sktime")
    except metadata.PackageNotFoundError:
        raise ReproduceError(
            f"Tecator ships with sktime, which is not installed: {PIP_HINT}"
        ) from None
    files, data = {}, {}
    for split in ("TRAIN", "TEST"):
        path = Path(dist.locate_file(f"sktime/datasets/data/Tecator/Tecator_{split}.ts"))
        raw = path.read_bytes()
        files[path.name] = hashlib.sha256(raw).hexdigest()
        data[split] = read_ts(raw.decode("utf-8"))
    (x, y), test = data["TRAIN"], data["TEST"]
    val = np.arange(len(x)) % 5 == 4
    origin = {"package": "sktime", "version": dist.version, "sha256": files}
    return {"train": (x[~val], y[~val]), "val": (x[val], y[val]), "test": test, "origin": origin}


def read_ts(text: str) -> tuple[np.ndarray, np.ndarray]:
    """A .ts file's ``@data``: ``x`` ``[N, T, C]`` (shorter series padded with NaN) and targets."""
    rows = text.split("@data", 1)[1].split()
    fields = [row.split(":") for row in rows]
    series = [[np.asarray(c.split(","), dtype=float) for c in row[:-1]] for row in fields]
    x = np.full((len(series), max(len(s[0]) for s in series), len(series[0])), np.nan)
    for i, channels in enumerate(series):
        x[i, : len(channels[0])] = np.stack(channels, axis=-1)
    return x, np.asarray([row[-1] for row in fields], dtype=float)


# ## Dropped observations: per sample, the same time points in every channel
def drop(x: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A copy of ``x`` ``[N, T, C]`` in which each sample loses ``round(fraction * T)`` points."""
    x = np.array(x, dtype=float)
    for sample in x:
        sample[rng.choice(len(sample), round(fraction * len(sample)), replace=False)] = np.nan
    return x


def interpolate(x: np.ndarray) -> np.ndarray:
    """NaN filled by linear interpolation over the grid (ends: the nearest observed value)."""
    filled, grid = np.array(x, dtype=float), np.arange(x.shape[1])
    for sample in filled:
        for channel in sample.T:
            seen = ~np.isnan(channel)
            channel[~seen] = np.interp(grid[~seen], grid[seen], channel[seen])
    return filled


def gru_inputs(x: np.ndarray) -> np.ndarray:
    """Channels ``[forward-filled values (0 before the first), observed mask, time]``."""
    seen = ~np.isnan(x)
    last = np.maximum.accumulate(np.where(seen, np.arange(x.shape[1])[:, None], 0), axis=1)
    values = np.nan_to_num(np.take_along_axis(x, last, axis=1) * np.maximum.accumulate(seen, 1))
    t = np.broadcast_to(np.linspace(0.0, 1.0, x.shape[1])[None, :, None], x.shape[:2] + (1,))
    return np.concatenate([values, seen.astype(float), t], axis=-1).astype("float32")


# ## Models
def ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Closed-form ridge with an unpenalised intercept: ``(X'X + alpha I) w = X'y`` centred."""
    x, mx, my = x.reshape(len(x), -1), x.reshape(len(x), -1).mean(0), y.mean()
    w = np.linalg.solve((x - mx).T @ (x - mx) + alpha * np.eye(x.shape[1]), (x - mx).T @ (y - my))
    return w, float(my - mx @ w)


def cde_inputs(x: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Kidger et al.'s channels: time, the values (gaps interpolated), observations so far / T."""
    t = np.broadcast_to(np.linspace(0.0, 1.0, x.shape[1])[None, :, None], x.shape[:2] + (1,))
    return np.concatenate([t, x, np.cumsum(seen, axis=1) / x.shape[1]], -1).astype("float32")


def network(kind: str, steps: int, channels: int):
    """``cde``: CDEBlock over :func:`cde_inputs` + Dense(1); ``gru``: GRU over :func:`gru_inputs`
    + Dense(1)."""
    import keras

    import odelayers

    inputs = keras.Input((steps, channels))
    if kind == "cde":
        times = np.linspace(0.0, 1.0, steps)
        method, units = SETTINGS["cde_method"], SETTINGS["hidden_units"]
        hidden = odelayers.CDEBlock(units, times=times, method=method, gradient="backprop")(inputs)
    else:
        hidden = keras.layers.GRU(SETTINGS["hidden_units"])(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
    model.compile(optimizer=keras.optimizers.Adam(SETTINGS["learning_rate"]), loss="mse")
    return model


# ## Fit and evaluation: RMSE in % fat; inputs and targets standardised on the training split
def fit_one(kind: str, data: dict, fraction: float, seed: int, epochs: int) -> dict:
    """Train ``kind`` on the drops of ``seed`` (the same for every model); validation and test RMSE."""
    rng = np.random.default_rng([seed, round(100 * fraction)])
    (xt, yt), (xv, yv), (xs, ys) = data["train"], data["val"], data["test"]
    xt, xv, xs = (drop(x, fraction, rng) for x in (xt, xv, xs))
    seen = [~np.isnan(x) for x in (xt, xv, xs)]
    if (
        kind != "gru"
    ):  # gaps interpolated on the spectra as measured, before each wavelength's scaling
        xt, xv, xs = map(interpolate, (xt, xv, xs))
    scale = (np.nanmean(xt, axis=0), np.nanstd(xt, axis=0), yt.mean(), yt.std())
    xt, xv, xs = ((x - scale[0]) / scale[1] for x in (xt, xv, xs))
    began, result = time.perf_counter(), {}
    if kind == "ridge":
        best = min(10.0 ** np.arange(-6, 4), key=lambda a: rmse(predict(ridge(xt, yt, a), xv), yv))
        coef, result["alpha"] = ridge(xt, yt, best), float(best)
        preds = [predict(coef, x) for x in (xv, xs)]
    else:
        from reproduce._quiet import quiet_tensorflow

        quiet_tensorflow()
        import keras

        keras.utils.set_random_seed(seed)
        xt, xv, xs = (
            map(gru_inputs, (xt, xv, xs)) if kind == "gru" else map(cde_inputs, (xt, xv, xs), seen)
        )
        model = network(kind, xt.shape[1], xt.shape[2])
        best = keras.callbacks.EarlyStopping(patience=epochs, restore_best_weights=True)
        zt, zv = (yt - scale[2]) / scale[3], (yv - scale[2]) / scale[3]
        fit = dict(epochs=epochs, batch_size=SETTINGS["batch_size"], callbacks=[best], verbose=0)
        val_loss = model.fit(xt, zt, validation_data=(xv, zv), validation_batch_size=len(xv), **fit)
        result["val_rmse_by_epoch"] = [
            float(np.sqrt(v)) * scale[3] for v in val_loss.history["val_loss"]
        ]
        preds = [
            model.predict(x, batch_size=len(x), verbose=0)[:, 0] * scale[3] + scale[2]
            for x in (xv, xs)
        ]
    result.update(val_rmse=rmse(preds[0], yv), test_rmse=rmse(preds[1], ys))
    return {**result, "seconds": round(time.perf_counter() - began, 1)}


def predict(coef: tuple, x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1) @ coef[0] + coef[1]


def rmse(prediction, target) -> float:
    return float(np.sqrt(np.mean((np.asarray(prediction) - target) ** 2)))


def run(out, *, quick=False, seeds=None, epochs=None, models=MODELS, drops=DROPS, force=False,
        command=None) -> dict:  # fmt: skip
    """Every (model, drop) configuration into ``out/functional[-quick]/<model>-drop<pct>/``;
    seeds already in a configuration's metrics.json are skipped. Returns the summary."""
    data, preset = load_tecator(), PRESETS["quick" if quick else "full"]
    seeds, epochs = seeds or preset["seeds"], epochs or preset["epochs"]
    root = Path(out) / ("functional-quick" if quick else "functional")
    summary, todo, done = {"data": data["origin"], "rows": []}, len(models) * len(drops) * seeds, 0
    for model in models:
        for fraction in drops:
            folder = root / f"{model}-drop{round(100 * fraction):02d}"
            config = {"model": model, "drop": fraction, "epochs": epochs, **SETTINGS}
            metrics = {"config": config, "data": data["origin"], "per_seed": {}}
            if (folder / "metrics.json").is_file() and not force:
                metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
                if metrics["config"] != config:
                    raise ReproduceError(f"{folder} holds another configuration; pass --force")
            for seed in range(seeds):
                done += 1
                if str(seed) in metrics["per_seed"]:
                    continue
                got = metrics["per_seed"][str(seed)] = fit_one(model, data, fraction, seed, epochs)
                print(f"[{done}/{todo}] {model} drop {fraction:.0%} seed {seed}: test RMSE "
                      f"{got['test_rmse']:.2f} (val {got['val_rmse']:.2f}), {got['seconds']:.0f} s",
                      flush=True)  # fmt: skip
                metrics["provenance"] = provenance.record(command)
                folder.mkdir(parents=True, exist_ok=True)
                atomic_write_json(folder / "metrics.json", metrics)
            rmses = [metrics["per_seed"][str(seed)]["test_rmse"] for seed in range(seeds)]
            row = dict(zip(("mean", "low", "high", "n"), mean_interval(rmses)))
            summary["rows"].append({"model": model, "drop": fraction, **row})
    summary["provenance"] = provenance.record(command)
    atomic_write_json(root / "summary.json", summary)
    figure(summary["rows"], root / "rmse_vs_drop.png")
    return summary


def figure(rows: list[dict], path: Path) -> None:
    """Test RMSE against the fraction dropped, one line per model, 95% interval bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        mean = np.array([r["mean"] for r in mine])
        bars = [mean - [r["low"] or m for r, m in zip(mine, mean)],
                [r["high"] or m for r, m in zip(mine, mean)] - mean]  # fmt: skip
        ax.errorbar([r["drop"] for r in mine], mean, yerr=bars, capsize=3, marker="o", label=model)
    ax.set(xlabel="fraction of points dropped", ylabel="test RMSE (% fat)", title="Tecator")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
