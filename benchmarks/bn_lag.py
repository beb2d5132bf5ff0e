"""Why a trained CNN's test accuracy swings: its batch norms' moving statistics, measured.

The per-epoch test accuracy of the residual CNN and the ODE-Net swings by up to
20 points from one epoch to the next while the same test images, each batch
normalised by its own statistics, hold steady (``test_accuracy_batch_stats``
in ``history.csv``). Two causes would both fit: the moving averages of the batch
norms trail weights that still change fast (momentum 0.99: about 100 batches,
two and a half epochs of 41), or dropout makes the statistics seen in training
differ from those at inference ("variance shift", Li et al. 2019), since the R
residual branch has dropout before a convolution and a batch norm.

This script tells them apart on each saved model (``model.keras`` of finished
resnet/odenet run folders; nothing is trained, no weight changes). For each it
scores the test and training images in inference mode

* as trained (the moving statistics the run ended with),
* after the moving statistics converge on the frozen weights with dropout on
  (``--epochs`` passes over the training images in training mode, batch 32,
  Keras 2.2's update: what the moving averages would reach if the weights
  stopped changing), and
* the same with dropout off (the statistics inference actually sees).

If the first is far below the second, the moving statistics lagged; the gap
between the second and the third is dropout's variance shift. Run::

    python benchmarks/bn_lag.py results            # the committed runs' folders
    python benchmarks/bn_lag.py /tmp/runs --epochs 12
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import _harness as H


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, help="folder holding the run folders")
    parser.add_argument(
        "--epochs",
        type=int,
        default=6,
        help="passes over the training images that update the moving statistics (default 6: "
        "246 updates at batch 32, after which 0.99**246 = 8%% of the old statistics remain)",
    )
    parser.add_argument("--out", type=Path, default=H.RESULTS_DIR)
    parser.add_argument("--name", default="bn_lag", help="output file stem")
    return parser.parse_args(argv)


def run_data(run):
    """The run's training and test arrays, rebuilt as the run built them (same split)."""
    import numpy as np

    from reproduce import data, preprocess

    metrics = run.metrics
    source = metrics.get("data") or {}
    train, resolved = data.resolve_data(
        source.get("path") if source.get("kind") == "real" else None
    )
    if source.get("sha256") and resolved.sha256 != source["sha256"]:
        raise SystemExit(f"{run.name}: its data (sha256 {source['sha256'][:12]}) is not at hand")
    x, y = preprocess.resnet_inputs(train, preprocessing=metrics.get("preprocessing", "r"))
    nums, not_nums = preprocess.report_split(
        len(x), seed=int(metrics.get("seed", 1)), kind=metrics.get("sample_kind", "Rounding")
    )
    nums, not_nums = nums[: metrics.get("limit_train")], not_nums[: metrics.get("limit_test")]
    as_float = lambda a: np.asarray(a, "float32")  # noqa: E731
    return as_float(x[nums]), as_float(y[nums]), as_float(x[not_nums]), as_float(y[not_nums])


def measure(run, epochs: int) -> dict:
    """Inference-mode accuracies as trained and after the moving statistics converge."""
    import keras
    import numpy as np
    import tensorflow as tf

    import odelayers  # noqa: F401 - registers the layers the file names
    import reproduce.keras22  # noqa: F401
    import reproduce.odenet  # noqa: F401
    from reproduce.engine.inference import batch_norm_and_dropout_layers

    x_train, y_train, x_test, y_test = run_data(run)
    model = keras.saving.load_model(run.folder / "model.keras", compile=False)
    norms, dropouts = batch_norm_and_dropout_layers(model)
    trained = [[v.numpy() for v in layer.variables] for layer in norms]
    rates = [layer.rate for layer in dropouts]

    def accuracy(x, y):
        pred = model.predict(x, batch_size=32, verbose=0)
        return float(np.mean(pred.argmax(axis=1) == y.argmax(axis=1)))

    def scores():
        return {"test": accuracy(x_test, y_test), "train": accuracy(x_train, y_train)}

    result = {"as_trained": scores()}
    for label, keep_dropout in (("converged_dropout_on", True), ("converged_dropout_off", False)):
        for layer, values in zip(norms, trained):
            for variable, value in zip(layer.variables, values):
                variable.assign(value)
        for layer, rate in zip(dropouts, rates):
            layer.rate = rate if keep_dropout else 0.0
        update = tf.function(lambda xb: model(xb, training=True))  # weights untouched
        order_rng = np.random.default_rng(0)
        for _ in range(epochs):
            order = order_rng.permutation(len(x_train))
            for start in range(0, len(x_train), 32):
                update(x_train[order[start : start + 32]])
        for layer, rate in zip(dropouts, rates):
            layer.rate = rate
        result[label] = scores()
    return result


def summarise(scan, epochs: int) -> dict:
    rows = []
    for run in scan.runs:
        if run.model not in ("resnet", "odenet") or not run.finished:
            continue
        if not (run.folder / "model.keras").is_file():
            continue
        print(f"{run.name} ...", flush=True)
        rows.append(
            {
                "run": run.name,
                "model": run.model,
                "epochs": run.get("epochs"),
                "train_seed": run.get("train_seed", run.get("seed")),
                "git_commit": run.get("git_commit"),
                "data": (run.get("data") or {}).get("sha256"),
                **measure(run, epochs),
            }
        )
    means = {}
    for model in sorted({r["model"] for r in rows}):
        mine = [r for r in rows if r["model"] == model]
        means[model] = {
            key: {
                split: statistics.fmean(r[key][split] for r in mine) for split in ("test", "train")
            }
            for key in ("as_trained", "converged_dropout_on", "converged_dropout_off")
        } | {"n": len(mine)}
    return {"update_epochs": epochs, "rows": rows, "means": means}


def render_markdown(res: dict) -> str:
    def cell(scores):
        return f"{100 * scores['test']:.1f} / {100 * scores['train']:.1f}"

    header = ["run", "epochs", "training seed", "as trained", "converged, dropout on"]
    header += ["converged, dropout off"]
    rows = [
        [
            r["run"],
            r["epochs"],
            r["train_seed"],
            cell(r["as_trained"]),
            cell(r["converged_dropout_on"]),
            cell(r["converged_dropout_off"]),
        ]
        for r in res["rows"]
    ]
    for model, m in res["means"].items():
        rows.append(
            [
                f"**mean, {model}** (n={m['n']})",
                "",
                "",
                cell(m["as_trained"]),
                cell(m["converged_dropout_on"]),
                cell(m["converged_dropout_off"]),
            ]
        )
    commits = sorted({r["git_commit"] for r in res["rows"]})
    return (
        "Test / training accuracy (%) in inference mode of each saved model: with the moving "
        "batch-norm statistics it was saved with; after "
        f"{res['update_epochs']} passes over the training images in training mode with the "
        "weights frozen (the moving statistics converge as Keras 2.2 updates them), dropout on; "
        "the same with dropout off. Nothing else changes between the columns.\n\n"
        + H.markdown_table(header, rows)
        + f"\n\nModels made by commit(s) {', '.join(commits)}; each run's command is in its "
        "metrics.json.\n"
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    from reproduce import runs

    scan = runs.load_runs(args.runs)
    record = H.Record(args.name, args, {"intra_op": None, "inter_op": None})
    res = summarise(scan, args.epochs)
    markdown = render_markdown(res)
    path = record.finish(res, markdown)
    print(markdown)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
