"""The report's future work (section 5): inputs that are functions. A Neural CDE on two data sets.

Both ship inside sktime's wheel in the UCR/UEA archive's splits. Tecator: near-infrared absorbance
spectra of meat (100 wavelengths, 850-1050 nm) and their fat content (%), 172 training and 43 test
spectra; Thodberg's Bayesian neural network (IEEE Trans. Neural Networks 7(1), 1996) predicted fat
to a test RMSE of about 0.36 on a related split, from principal components of the spectra.
JapaneseVowels (Kudo et al., Pattern Recognition Letters 20(11-13), 1999): which of 9 speakers
said a vowel, from 12 cepstral coefficients over 7 to 29 frames, 270 training and 370 test
utterances, shorter ones padded with NaN. Each sample loses a fraction of its points (Kidger et
al. 2020), the same splits and drops going to a Neural CDE (``odelayers.CDEBlock`` + Dense), a
linear model (ridge; multinomial logistic regression with L2), both on the gaps linearly
interpolated, and a GRU over values, mask and time. Validation, the training samples whose index
is 4 modulo 5 (34 of 172 spectra; 54 of 270 utterances, 6 per speaker), picks the linear model's
penalty and each network's best epoch; the test split is only evaluated.
"""

import hashlib
import json
import time
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np

from reproduce import provenance
from reproduce._quiet import quiet_tensorflow
from reproduce.atomic import atomic_write_json
from reproduce.comparison.stats import mean_interval
from reproduce.errors import ReproduceError
from reproduce.figures.canvas import pyplot, save_figure

DROPS = (0.0, 0.3, 0.5, 0.7)
# Per data set: sktime's folder, the models, the test metric and its range, the axes the inputs'
# scaling averages over (each wavelength; each cepstral channel over frames), settings, --quick's
# epochs (2 seeds; full: 5 seeds, 100 epochs): the fewest of (10, 20, 40) after which the Neural
# CDE's best validation metric so far (seed 0, no drops) is within 10% of its best in 40 epochs
# (RMSE), or at most one validation series (1/54) below it (accuracy).
DATASETS = {
    "tecator": {
        "folder": "Tecator", "metric": "rmse", "range": (0.0, float("inf")), "quick_epochs": 40,
        "models": ("cde", "ridge", "gru"), "scale_axes": (0,), "ylabel": "test RMSE (% fat)",
        # 23 divides the 138 training spectra: every batch has one shape, traced once. Euler steps
        # from point to point (the CDE as a sum over increments): rk4 costs 3 times as much a step.
        "settings": {"hidden_units": 32, "batch_size": 23, "learning_rate": 1e-2,
                     "cde_method": "euler", "cde_interpolation": "hermite"},
    },
    "japanesevowels": {
        "folder": "JapaneseVowels", "models": ("cde", "logistic", "gru"), "metric": "accuracy",
        "range": (0.0, 1.0), "scale_axes": (0, 1), "ylabel": "test accuracy", "quick_epochs": 10,
        # 24 divides the 216 training series. Midpoint steps on the linear path read its slope
        # inside each interval, so a padded series' constant tail adds exactly nothing (a stage
        # at a knot reads the mean slope either side: Euler would step into the padding).
        "settings": {"hidden_units": 32, "batch_size": 24, "learning_rate": 1e-2,
                     "cde_method": "midpoint", "cde_interpolation": "linear"},
    },
}  # fmt: skip
PIP = "pip install 'neural-ode-iceberg[functional]'"
SCORES = {"rmse": lambda predicted, y: float(np.sqrt(np.mean((np.asarray(predicted) - y) ** 2))),
          "accuracy": lambda predicted, y: float(np.mean(np.asarray(predicted) == y))}  # fmt: skip


# ## Data: the .ts files inside sktime's wheel (read directly: no sktime import)
def load(dataset: str = "tecator") -> dict:
    """Training, validation and test arrays (``x`` ``[N, T, C]``, NaN-padded to the longest series
    of both files; class labels as 0..K-1), the data set's name and the files' origin."""
    folder, files, data = DATASETS[dataset]["folder"], {}, {}
    try:
        dist = metadata.distribution("sktime")
    except metadata.PackageNotFoundError:
        raise ReproduceError(f"{folder} ships with sktime, which is not installed: {PIP}") from None
    for split in ("TRAIN", "TEST"):
        path = Path(dist.locate_file(f"sktime/datasets/data/{folder}/{folder}_{split}.ts"))
        files[path.name] = hashlib.sha256(raw := path.read_bytes()).hexdigest()
        data[split] = read_ts(raw.decode("utf-8"))
    steps, classes = max(x.shape[1] for x, _ in data.values()), np.unique(data["TRAIN"][1])
    for split, (x, y) in data.items():
        y = np.searchsorted(classes, y) if DATASETS[dataset]["metric"] == "accuracy" else y
        data[split] = np.pad(x, [(0, 0), (0, steps - len(x[0])), (0, 0)], constant_values=np.nan), y
    (x, y), val = data["TRAIN"], np.arange(len(data["TRAIN"][0])) % 5 == 4
    origin = {"package": "sktime", "version": dist.version, "sha256": files}
    return {"train": (x[~val], y[~val]), "val": (x[val], y[val]), "test": data["TEST"],
            "origin": origin, "name": dataset}  # fmt: skip


def read_ts(text: str) -> tuple[np.ndarray, np.ndarray]:
    """A .ts file's ``@data``: ``x`` ``[N, T, C]`` (shorter series padded with NaN) and targets."""
    fields = [row.split(":") for row in text.split("@data", 1)[1].split()]
    series = [[np.asarray(c.split(","), dtype=float) for c in row[:-1]] for row in fields]
    x = np.full((len(series), max(len(s[0]) for s in series), len(series[0])), np.nan)
    for i, channels in enumerate(series):
        x[i, : len(channels[0])] = np.stack(channels, axis=-1)
    return x, np.asarray([row[-1] for row in fields], dtype=float)


# ## Dropped observations: per sample, the same time points in every channel
def drop(x: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A copy of ``x`` ``[N, T, C]`` in which each sample loses ``round(fraction * length)`` of
    its points (the padding after a shorter series is no point of it)."""
    x = np.array(x, dtype=float)
    for sample in x:
        rows = np.flatnonzero(~np.isnan(sample).all(-1))
        sample[rows[rng.choice(len(rows), round(fraction * len(rows)), replace=False)]] = np.nan
    return x


def interpolate(x: np.ndarray, padding: np.ndarray) -> np.ndarray:
    """NaN filled by linear interpolation over the grid (ends: the nearest observed value), up to
    each series' end; ``padding`` ``[N, T]`` (after the end) stays NaN."""
    filled = np.array(x, dtype=float)
    for sample, n in zip(filled, np.sum(~padding, axis=1)):
        for channel in sample[:n].T:
            seen, grid = ~np.isnan(channel), np.arange(n)
            channel[~seen] = np.interp(grid[~seen], grid[seen], channel[seen])
    return filled


def resample(x: np.ndarray, padding: np.ndarray) -> np.ndarray:
    """Each series (gaps filled) linearly resampled from its own length to all ``T`` points."""
    out = np.empty_like(x)
    for sample, n, row in zip(x, np.sum(~padding, axis=1), out):
        row.T[:] = [
            np.interp(np.linspace(0, n - 1, len(row)), np.arange(n), c[:n]) for c in sample.T
        ]
    return out


def gru_inputs(x: np.ndarray, padding: np.ndarray) -> np.ndarray:
    """Channels ``[forward-filled values (0 before the first), observed mask, time]``; -1 in
    every channel after a series' end (``padding``), for ``keras.layers.Masking(-1)``."""
    seen = ~np.isnan(x)
    last = np.maximum.accumulate(np.where(seen, np.arange(x.shape[1])[:, None], 0), axis=1)
    values = np.nan_to_num(np.take_along_axis(x, last, axis=1) * np.maximum.accumulate(seen, 1))
    t = np.broadcast_to(np.linspace(0.0, 1.0, x.shape[1])[None, :, None], x.shape[:2] + (1,))
    return np.where(padding[..., None], -1.0, np.concatenate([values, seen, t], -1)).astype(
        "float32"
    )


# ## Models
def ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Closed-form ridge with an unpenalised intercept: ``(X'X + alpha I) w = X'y`` centred."""
    x, mx, my = x.reshape(len(x), -1), x.reshape(len(x), -1).mean(0), y.mean()
    w = np.linalg.solve((x - mx).T @ (x - mx) + alpha * np.eye(x.shape[1]), (x - mx).T @ (y - my))
    return w, float(my - mx @ w)


def linear(kind: str, x: np.ndarray, y: np.ndarray, alpha: float):
    """``predict(x)`` of a ridge regression, or of scikit-learn's multinomial logistic
    regression with the L2 penalty ``alpha`` (``C = 1 / alpha``), fitted to ``x, y``."""
    if kind == "ridge":
        coef = ridge(x, y, alpha)
        return lambda z: z.reshape(len(z), -1) @ coef[0] + coef[1]
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():  # weak penalties on separable data: validation judges them
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegression(C=1 / alpha, max_iter=1000).fit(x.reshape(len(x), -1), y)
    return lambda z: model.predict(z.reshape(len(z), -1))


def cde_inputs(x: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Kidger et al.'s channels: time, the values (gaps interpolated), observations so far / T;
    NaN after a series' end, which ``CDEBlock`` fills with the last values: a constant path."""
    t = np.broadcast_to(np.linspace(0.0, 1.0, x.shape[1])[None, :, None], x.shape[:2] + (1,))
    out = np.concatenate([t, x, np.cumsum(seen, axis=1) / x.shape[1]], -1)
    return np.where(np.isnan(x).all(-1, keepdims=True), np.nan, out).astype("float32")


def cde_block(settings: dict, times):
    import odelayers

    return odelayers.CDEBlock(settings["hidden_units"], times=times, gradient="backprop",
        method=settings["cde_method"], interpolation=settings["cde_interpolation"])  # fmt: skip


def network(kind: str, steps: int, channels: int, settings: dict, classes=0, seed=0):
    """``cde``: :func:`cde_block` over :func:`cde_inputs`; ``gru``: GRU over :func:`gru_inputs`;
    then ``Dense``: 1 output and MSE, or with ``classes`` a logit each, cross-entropy, accuracy."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((steps, channels))
    if kind == "cde":
        hidden = cde_block(settings, np.linspace(0.0, 1.0, steps))(inputs)
    else:
        hidden = keras.layers.GRU(settings["hidden_units"])(keras.layers.Masking(-1.0)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(classes or 1)(hidden))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True) if classes else "mse"
    metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")] if classes else []
    model.compile(keras.optimizers.Adam(settings["learning_rate"]), loss, metrics=metrics)
    return model


# ## Fit and evaluation: inputs standardised on the training split (and regression targets)
def fit_one(kind: str, data: dict, fraction: float, seed: int, epochs: int) -> dict:
    """Train ``kind`` on the drops of ``seed`` (the same for every model); validation and test
    metric (RMSE in % fat; accuracy)."""
    spec, rng = DATASETS[data["name"]], np.random.default_rng([seed, round(100 * fraction)])
    (xt, yt), (xv, yv), (xs, ys) = data["train"], data["val"], data["test"]
    pads = [np.isnan(x).all(-1) for x in (xt, xv, xs)]  # after a shorter series' end
    xt, xv, xs = (drop(x, fraction, rng) for x in (xt, xv, xs))
    seen = [~np.isnan(x) for x in (xt, xv, xs)]
    if kind != "gru":  # gaps interpolated on the values as measured, before the scaling
        xt, xv, xs = map(interpolate, (xt, xv, xs), pads)
    mean, std = (f(xt, axis=spec["scale_axes"]) for f in (np.nanmean, np.nanstd))
    xt, xv, xs = ((x - mean) / std for x in (xt, xv, xs))
    began, result, metric, score = time.perf_counter(), {}, spec["metric"], SCORES[spec["metric"]]
    if kind in ("ridge", "logistic"):
        xt, xv, xs = map(resample, (xt, xv, xs), pads)
        # From the strongest penalty down: a tie in validation accuracy keeps the stronger.
        fits = [linear(kind, xt, yt, a) for a in 10.0 ** np.arange(3, -7, -1)]
        best = (max if metric == "accuracy" else min)(fits, key=lambda f: score(f(xv), yv))
        result["alpha"] = float(10.0 ** (3 - fits.index(best)))
        preds = [best(x) for x in (xv, xs)]
    else:
        quiet_tensorflow()  # before Keras loads
        from keras.callbacks import EarlyStopping

        inputs, side = (gru_inputs, pads) if kind == "gru" else (cde_inputs, seen)
        xt, xv, xs = map(inputs, (xt, xv, xs), side)
        classes = int(yt.max()) + 1 if metric == "accuracy" else 0
        model = network(kind, xt.shape[1], xt.shape[2], spec["settings"], classes, seed)
        shift, scale = (0, 1) if classes else (yt.mean(), yt.std())
        zt, zv = (yt - shift) / scale, (yv - shift) / scale
        best = EarlyStopping(patience=epochs, restore_best_weights=True)
        fit = dict(validation_data=(xv, zv), validation_batch_size=len(xv), callbacks=[best])
        logs = model.fit(xt, zt, spec["settings"]["batch_size"], epochs, verbose=0, **fit).history
        by_epoch = logs.get("val_accuracy") or np.sqrt(logs["val_loss"]) * scale
        result[f"val_{metric}_by_epoch"] = [float(v) for v in by_epoch]
        outputs = [model.predict(x, batch_size=len(x), verbose=0) for x in (xv, xs)]
        preds = [o.argmax(-1) if classes else o[:, 0] * scale + shift for o in outputs]
    result |= {f"{s}_{metric}": score(p, y) for s, p, y in zip(("val", "test"), preds, (yv, ys))}
    return {**result, "seconds": round(time.perf_counter() - began, 1)}


def summarise(values, bounds: tuple) -> dict:
    """Mean and 95% Student-t interval over seeds, the interval clipped to the metric's range."""
    mean, low, high, n = mean_interval(values)
    low, high = (None, None) if low is None else (max(low, bounds[0]), min(high, bounds[1]))
    return {"mean": mean, "low": low, "high": high, "n": n}


def run(out, *, dataset="tecator", quick=False, seeds=None, epochs=None, models=None, drops=DROPS,
        force=False, command=None) -> dict:  # fmt: skip
    """Every (model, drop) configuration into ``out/functional[-<dataset>][-quick]/<model>-drop
    <pct>/`` (Tecator's without its name), skipping the seeds in its metrics.json; the summary."""
    data, spec = load(dataset), DATASETS[dataset]
    name, clip = spec["metric"], spec["range"]
    seeds, epochs = seeds or (2 if quick else 5), epochs or (spec["quick_epochs"] if quick else 100)
    suffix = ("" if dataset == "tecator" else f"-{dataset}") + ("-quick" if quick else "")
    root, models = Path(out) / f"functional{suffix}", models or spec["models"]
    shown = f"[{clip[0]:g}, {clip[1]:g}" + (")" if np.isinf(clip[1]) else "]")
    interval = f"95% Student-t over seeds, clipped to {shown}"
    summary = {"data": data["origin"], "metric": name, "interval": interval, "rows": []}
    for i, (model, fraction) in enumerate((model, f) for model in models for f in drops):
        folder = root / f"{model}-drop{round(100 * fraction):02d}"
        config = {"model": model, "drop": fraction, "epochs": epochs, **spec["settings"]}
        metrics = {"config": config, "data": data["origin"], "per_seed": {}}
        if (folder / "metrics.json").is_file() and not force:
            metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
            if metrics["config"] != config:
                raise ReproduceError(f"{folder} holds another configuration; pass --force")
        for seed in (s for s in range(seeds) if str(s) not in metrics["per_seed"]):
            got = metrics["per_seed"][str(seed)] = fit_one(model, data, fraction, seed, epochs)
            print(f"[{i * seeds + seed + 1}/{len(models) * len(drops) * seeds}] {model} drop "
                  f"{fraction:.0%} seed {seed}: test {name} {got[f'test_{name}']:.3g} (val "
                  f"{got[f'val_{name}']:.3g}), {got['seconds']:.0f} s", flush=True)  # fmt: skip
            folder.mkdir(parents=True, exist_ok=True)
            metrics["provenance"] = provenance.record(command)
            atomic_write_json(folder / "metrics.json", metrics)
        values = [metrics["per_seed"][str(seed)][f"test_{name}"] for seed in range(seeds)]
        summary["rows"].append({"model": model, "drop": fraction, **summarise(values, clip)})
    summary["provenance"] = provenance.record(command)
    atomic_write_json(root / "summary.json", summary)
    fig, ax = pyplot().subplots(figsize=(5, 3.5))
    for model in dict.fromkeys(models):  # an interval of one seed (None) draws no bar
        rows = [r for r in summary["rows"] if r["model"] == model]
        mean, low, high = (np.array([r[k] for r in rows], float) for k in ("mean", "low", "high"))
        ax.errorbar([r["drop"] for r in rows], mean, np.nan_to_num([mean - low, high - mean]),
                    capsize=3, marker="o", label=model)  # fmt: skip
    ax.set(xlabel="fraction of points dropped", ylabel=spec["ylabel"], title=spec["folder"])
    ax.legend()
    save_figure(fig, root / f"{name}_vs_drop.png", top=1.0)
    return summary
