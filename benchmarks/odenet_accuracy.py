"""Is the cheaper ODE-Net as accurate? Test accuracy over training seeds from run folders; with
``--bn-lag``, why a CNN's test accuracy swings (moving batch-norm statistics, dropout)."""

import json
import re
import statistics
from pathlib import Path

import _common as C
import keras
import numpy as np
import pandas as pd
import tensorflow as tf

import odelayers  # noqa: F401 - registers the layers that model.keras files name
import reproduce.models  # noqa: F401
from reproduce import data, preprocess

GOAL_POINTS, LATE_EPOCHS = 2.0, 4
PROVENANCE = ("command", "git_commit", "date", "hardware")


def load_runs(folder: Path) -> list[dict]:
    """Finished CNN runs under ``folder``: their metrics, with ``name`` and ``history`` added."""
    runs = []
    for path in sorted(folder.glob("*/metrics.json")):
        metrics = json.loads(path.read_text())
        if metrics.get("model") in ("resnet", "odenet") and metrics.get("status") == "finished":
            history = pd.read_csv(path.parent / "history.csv")
            runs.append(metrics | {"name": path.parent.name, "history": history})
    return runs


def points(history, column: str, late: bool):
    """Points: the last epochs' mean (``late``) or the mean change between epochs; None if unknown."""
    if column not in history or len(history) < (LATE_EPOCHS if late else 2):
        return None
    values = history[column]
    return 100 * float((values.tail(LATE_EPOCHS) if late else values.diff().abs()).mean())


def mean(values):
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def summarise(runs: list[dict]) -> list[dict]:
    groups, rows, columns = {}, [], ("test_accuracy", "test_accuracy_batch_stats")
    seed = lambda run: run.get("train_seed", run.get("seed", 1))  # noqa: E731
    for run in runs:  # same name but the -t<seed> suffix, same solver: one group
        key = (re.sub(r"-t\d+$", "", run["name"]), json.dumps(run.get("ode"), sort_keys=True))
        groups.setdefault(key, []).append(run)
    for (name, _), group in groups.items():
        group.sort(key=seed)
        acc, h = [100 * r["test_accuracy"] for r in group], [r["history"] for r in group]
        row = {"group": name} | {k: group[0].get(k) for k in ("model", "ode", "epochs", "n_train")}
        row |= {"train_seeds": [seed(r) for r in group], "test_accuracy_pct": acc}
        sd = statistics.stdev(acc) if h[1:] else None
        row |= {"mean_pct": statistics.fmean(acc), "sd_pct": sd}
        late = {c: [points(x, c, True) for x in h] for c in columns}
        row["late_mean_pct"], row["late_batch_stats_mean_pct"] = late.values()
        row["swing_pts"] = [mean(points(x, c, False) for x in h) for c in columns]
        row["seconds_per_epoch"] = [r.get("seconds_per_epoch") for r in group]
        data = [{"data": r["data"]["sha256"]} for r in group]
        row["provenance"] = [{k: r.get(k) for k in PROVENANCE} | d for r, d in zip(group, data)]
        rows.append(row)
    same = ("epochs", "n_train", "train_seeds")
    for row in (r for r in rows if r["model"] == "odenet"):
        cnn = [r for r in rows if r["model"] == "resnet" and all(r[k] == row[k] for k in same)]
        if cnn:
            row["minus_resnet_points"] = gap = row["mean_pct"] - cnn[0]["mean_pct"]
            row["within_goal"] = gap >= -GOAL_POINTS and len(row["train_seeds"]) >= 3
            late = mean(row["late_mean_pct"]), mean(cnn[0]["late_mean_pct"])
            row["late_minus_resnet_points"] = None if None in late else late[0] - late[1]
    return rows


def run_data(metrics: dict):
    """The run's training and test images, split as the run split them."""
    source = metrics["data"]
    train, found = data.resolve_data(source["path"] if source["kind"] == "real" else None)
    if found.sha256 != source["sha256"]:
        raise SystemExit(f"the data of sha256 {source['sha256'][:12]} are not at hand")
    x, y = preprocess.resnet_inputs(train, preprocessing=metrics["preprocessing"])
    nums, rest = preprocess.report_split(len(x), seed=metrics["seed"], kind=metrics["sample_kind"])
    nums, rest = nums[: metrics.get("limit_train")], rest[: metrics.get("limit_test")]
    return x[nums], y[nums], x[rest], y[rest]


def measure_model(folder: Path, metrics: dict, epochs: int) -> dict:
    """Accuracy as trained, then after ``epochs`` passes in training mode, dropout on and off."""
    x_train, y_train, x_test, y_test = run_data(metrics)
    model = keras.saving.load_model(folder / "model.keras", compile=False)
    layers = list(model._flatten_layers(include_self=False))
    norms = [la for la in layers if isinstance(la, keras.layers.BatchNormalization)]
    dropouts = [la for la in layers if isinstance(la, keras.layers.Dropout)]
    trained, rates = [la.get_weights() for la in norms], [la.rate for la in dropouts]
    update = tf.function(lambda xb: model(xb, training=True))  # moves the statistics only

    def scores():
        hits = lambda x, y: model.predict(x, batch_size=32, verbose=0).argmax(1) == y.argmax(1)  # noqa: E731
        return {"test": hits(x_test, y_test).mean(), "train": hits(x_train, y_train).mean()}

    result = {"as_trained": scores()}
    for label, dropout in (("converged_dropout_on", True), ("converged_dropout_off", False)):
        for layer, weights in zip(norms, trained):
            layer.set_weights(weights)
        for layer, rate in zip(dropouts, rates):
            layer.rate = rate if dropout else 0.0
        order = np.random.default_rng(0)
        for _ in range(epochs):
            shuffled = x_train[order.permutation(len(x_train))]
            for start in range(0, len(shuffled), 32):
                update(shuffled[start : start + 32])
        result[label] = scores()  # in inference mode: dropout's rate no longer matters
    return result


def bn_lag(runs: list[dict], folder: Path, epochs: int) -> dict:
    rows, columns = [], ("as_trained", "converged_dropout_on", "converged_dropout_off")
    for run in (r for r in runs if (folder / r["name"] / "model.keras").exists()):
        print(f"{run['name']} ...", flush=True)
        keep = {k: run.get(k) for k in ("model", "epochs", "train_seed", "git_commit")}
        rows.append({"run": run["name"], **keep} | measure_model(folder / run["name"], run, epochs))
    table = [[r["run"], *(r[c]["test"] for c in columns)] for r in rows]
    C.table(["run (test accuracy)", *columns], table)
    tests = lambda m, c: [r[c]["test"] for r in rows if r["model"] == m]  # noqa: E731
    models = {r["model"] for r in rows}
    means = {m: {c: float(np.mean(tests(m, c))) for c in columns} for m in models}
    return {"update_epochs": epochs, "rows": rows, "mean_test": means}


def measure(args) -> dict:
    rows = summarise(runs := load_runs(args.folder))
    header = ["group", "seeds", "test accuracy %", "sd", "ODE-Net - CNN", f"last {LATE_EPOCHS}"]
    keys = ("mean_pct", "sd_pct", "minus_resnet_points")
    table = [[r["group"], len(r["train_seeds"]), *map(r.get, keys)] for r in rows]
    C.table(header, [t + [mean(r["late_mean_pct"])] for t, r in zip(table, rows)])
    out = {"goal_points": GOAL_POINTS, "late_epochs": LATE_EPOCHS, "rows": rows}
    if args.bn_lag:
        out["bn_lag"] = bn_lag(runs, args.folder, 1 if args.tiny else args.bn_lag)
    return out


if __name__ == "__main__":
    options = {"folder": dict(type=Path, help="the folder holding the run folders")}
    # 6 passes over 1,313 images: 0.99**246 = 8% of the old statistics remain.
    options["--bn-lag"] = dict(type=int, default=0, metavar="PASSES", help="see measure_model")
    C.run(C.arguments(__doc__, 0, options=options), "odenet_accuracy", measure, peers=())
