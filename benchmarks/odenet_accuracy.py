"""Is the cheaper ODE-Net as accurate? Test accuracy over training seeds, read from run folders.

Goal: within 2 points of the residual CNN's over 3 or more training seeds. Groups finished
runs that differ only in the training seed (``metrics.json``, ``history.csv``).
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import _common as C
import pandas as pd

GOAL_POINTS = 2.0
LATE_EPOCHS = 4


def load_runs(folder: Path) -> list[dict]:
    """Finished CNN runs under ``folder``: their metrics, with ``name`` and ``history`` added."""
    runs = []
    for path in sorted(folder.glob("*/metrics.json")):
        metrics = json.loads(path.read_text())
        if metrics.get("model") in ("resnet", "odenet") and metrics.get("status") == "finished":
            history = pd.read_csv(path.parent / "history.csv")
            runs.append(metrics | {"name": path.parent.name, "history": history})
    return runs


def late_mean(history, column="test_accuracy"):
    """Mean of the last epochs (None without the column or for a shorter run)."""
    if column not in history or len(history) < LATE_EPOCHS:
        return None
    return 100 * float(history[column].tail(LATE_EPOCHS).mean())


def swing(history, column="test_accuracy"):
    """Mean absolute change from one epoch to the next, in points."""
    return 100 * float(history[column].diff().abs().mean()) if column in history else None


def mean(values):
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def summarise(runs: list[dict]) -> list[dict]:
    groups = {}
    for run in runs:  # same name but the -t<seed> suffix, same solver: one group
        key = (re.sub(r"-t\d+$", "", run["name"]), json.dumps(run.get("ode"), sort_keys=True))
        groups.setdefault(key, []).append(run)
    rows = []
    for (name, _), group in groups.items():
        group.sort(key=lambda r: r.get("train_seed", r.get("seed", 1)))
        accuracies = [100 * r["test_accuracy"] for r in group]
        h = [r["history"] for r in group]
        rows.append(
            {
                "group": name,
                "model": group[0]["model"],
                "ode": group[0].get("ode"),
                "epochs": group[0]["epochs"],
                "n_train": group[0].get("n_train"),
                "train_seeds": [r.get("train_seed", r.get("seed", 1)) for r in group],
                "test_accuracy_pct": accuracies,
                "mean_pct": statistics.fmean(accuracies),
                "sd_pct": statistics.stdev(accuracies) if len(accuracies) > 1 else None,
                "late_mean_pct": [late_mean(x) for x in h],
                "late_batch_stats_mean_pct": [late_mean(x, "test_accuracy_batch_stats") for x in h],
                "swing_pts": [
                    mean(swing(x) for x in h),
                    mean(swing(x, "test_accuracy_batch_stats") for x in h),
                ],
                "seconds_per_epoch": [r.get("seconds_per_epoch") for r in group],
                "provenance": [
                    {k: r.get(k) for k in ("command", "git_commit", "date", "hardware")}
                    | {"data": r["data"]["sha256"]}
                    for r in group
                ],
            }
        )
    for row in rows:
        cnn = [
            r
            for r in rows
            if r["model"] == "resnet"
            and all(r[k] == row[k] for k in ("epochs", "n_train", "train_seeds"))
        ]
        if row["model"] == "odenet" and cnn:
            row["minus_resnet_points"] = row["mean_pct"] - cnn[0]["mean_pct"]
            row["within_goal"] = (
                row["minus_resnet_points"] >= -GOAL_POINTS and len(row["train_seeds"]) >= 3
            )
            late = mean(row["late_mean_pct"]), mean(cnn[0]["late_mean_pct"])
            row["late_minus_resnet_points"] = None if None in late else late[0] - late[1]
    return rows


def measure(args) -> dict:
    rows = summarise(load_runs(args.folder))
    C.table(
        ["group", "seeds", "test accuracy %", "sd", "ODE-Net - CNN", f"last {LATE_EPOCHS} epochs"],
        [
            [
                r["group"],
                len(r["train_seeds"]),
                r["mean_pct"],
                r["sd_pct"],
                r.get("minus_resnet_points"),
                mean(r["late_mean_pct"]),
            ]
            for r in rows
        ],
    )
    return {"goal_points": GOAL_POINTS, "late_epochs": LATE_EPOCHS, "rows": rows}


def main(argv=None):
    parser = C.parser(__doc__, repeats=0)
    parser.add_argument("folder", type=Path, help="the folder holding the run folders")
    C.run(parser.parse_args(argv), "odenet_accuracy", measure, torch=False)


if __name__ == "__main__":
    main()
