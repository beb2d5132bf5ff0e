"""Why a trained CNN's test accuracy swings: its batch norms' moving statistics, measured.

Each saved model scores in inference mode as trained, then after its moving statistics
converge on the frozen weights with dropout on, and with dropout off: the first step is
the averages' lag, the second dropout's variance shift.
"""

from __future__ import annotations

import json
from pathlib import Path

import _common as C
import keras
import numpy as np
import tensorflow as tf


def run_data(metrics: dict):
    """The run's training and test images, split as the run split them."""
    from reproduce import data, preprocess

    source = metrics["data"]
    train, found = data.resolve_data(source["path"] if source["kind"] == "real" else None)
    if found.sha256 != source["sha256"]:
        raise SystemExit(f"the data of sha256 {source['sha256'][:12]} are not at hand")
    x, y = preprocess.resnet_inputs(train, preprocessing=metrics["preprocessing"])
    nums, rest = preprocess.report_split(len(x), seed=metrics["seed"], kind=metrics["sample_kind"])
    nums, rest = nums[: metrics.get("limit_train")], rest[: metrics.get("limit_test")]
    return x[nums], y[nums], x[rest], y[rest]


def measure_model(folder: Path, metrics: dict, epochs: int) -> dict:
    import odelayers  # noqa: F401 - registers the layers model.keras names
    import reproduce.models  # noqa: F401

    x_train, y_train, x_test, y_test = run_data(metrics)
    model = keras.saving.load_model(folder / "model.keras", compile=False)
    layers = list(model._flatten_layers(include_self=False))
    norms = [la for la in layers if isinstance(la, keras.layers.BatchNormalization)]
    dropouts = [la for la in layers if isinstance(la, keras.layers.Dropout)]
    trained = [[v.numpy() for v in la.variables] for la in norms]
    rates = [la.rate for la in dropouts]
    update = tf.function(lambda xb: model(xb, training=True))  # moves the statistics only

    def scores():
        def accuracy(x, y):
            return float(
                np.mean(model.predict(x, batch_size=32, verbose=0).argmax(1) == y.argmax(1))
            )

        return {"test": accuracy(x_test, y_test), "train": accuracy(x_train, y_train)}

    result = {"as_trained": scores()}
    for label, dropout in (("converged_dropout_on", True), ("converged_dropout_off", False)):
        for layer, values in zip(norms, trained):
            for variable, value in zip(layer.variables, values):
                variable.assign(value)
        for layer, rate in zip(dropouts, rates):
            layer.rate = rate if dropout else 0.0
        order = np.random.default_rng(0)
        for _ in range(epochs):
            shuffled = x_train[order.permutation(len(x_train))]
            for start in range(0, len(shuffled), 32):
                update(shuffled[start : start + 32])
        for layer, rate in zip(dropouts, rates):
            layer.rate = rate
        result[label] = scores()
    return result


def measure(args) -> dict:
    rows = []
    for path in sorted(args.folder.glob("*/model.keras")):
        metrics = json.loads((path.parent / "metrics.json").read_text())
        if metrics.get("model") in ("resnet", "odenet") and metrics.get("status") == "finished":
            print(f"{path.parent.name} ...", flush=True)
            keep = {k: metrics.get(k) for k in ("model", "epochs", "train_seed", "git_commit")}
            rows.append(
                {
                    "run": path.parent.name,
                    **keep,
                    **measure_model(path.parent, metrics, args.epochs),
                }
            )
    columns = ("as_trained", "converged_dropout_on", "converged_dropout_off")
    means = {
        m: {c: float(np.mean([r[c]["test"] for r in rows if r["model"] == m])) for c in columns}
        for m in {r["model"] for r in rows}
    }
    C.table(
        ["run (test accuracy)", *columns],
        [[r["run"], *(r[c]["test"] for c in columns)] for r in rows],
    )
    return {"update_epochs": args.epochs, "rows": rows, "mean_test": means}


def main(argv=None):
    parser = C.parser(__doc__, repeats=0)
    parser.add_argument("folder", type=Path, help="the folder holding the run folders")
    parser.add_argument(
        "--epochs",
        type=int,
        default=6,
        help="passes that update the statistics (6: 0.99**246 = 8%% of the old remain)",
    )
    args = parser.parse_args(argv)
    args.epochs = 1 if args.tiny else args.epochs
    C.run(args, "bn_lag", measure, torch=False)


if __name__ == "__main__":
    main()
