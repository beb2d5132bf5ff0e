"""Is the cheaper ODE-Net as accurate? Test accuracy over training seeds, read from run folders.

The speed goal (``bench_odenet_step.py``: the ODE-Net's training step no slower
than the residual CNN's) only counts if the ODE-Net still classifies as well:
its stand-in test accuracy within 2 points of the residual CNN's, over at least 3
training seeds (R's split unchanged). This script reads finished run folders made
by ``python -m reproduce`` (nothing is trained here), groups them by settings
(:func:`reproduce.runs.seed_groups`), and writes the mean, sample sd and each
seed's test accuracy per group, the difference of each ODE-Net group's mean from
the residual CNN's, and every run's provenance (command, commit, data, date).

Run, for example::

    python -m reproduce all --quick --train-seeds 1 2 3 --out /tmp/seeds
    python -m reproduce odenet --quick --train-seeds 1 2 3 --method dopri5 \\
        --gradient adjoint --run-name dopri5 --out /tmp/seeds
    python benchmarks/odenet_accuracy.py /tmp/seeds
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import _harness as H

from reproduce.comparison.epoch_stats import LATE_EPOCHS, late_mean, mean_abs_step

GOAL_POINTS = 2.0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, help="folder holding the run folders")
    parser.add_argument("--out", type=Path, default=H.RESULTS_DIR)
    parser.add_argument("--name", default="odenet_accuracy", help="output file stem")
    return parser.parse_args(argv)


def solver_of(group) -> str:
    ode = group.get("ode") or {}
    if not ode:
        return ""
    if ode.get("method") in ("euler", "midpoint", "rk4"):
        return f"{ode['method']}, step {ode.get('step_size')}, {ode.get('gradient')}"
    return f"{ode.get('method')}, rtol=atol={ode.get('rtol')}, {ode.get('gradient')}"


def summarise(groups) -> dict:
    """One entry per seed group of finished CNN runs, with the ODE-Nets' gap to the CNN."""
    rows = []
    for group in groups:
        if group.model not in ("resnet", "odenet") or not group.finished:
            continue
        accuracies = [100 * a for a in group.values("test_accuracy")]
        late = [_pct(late_mean(run.history)) for run in group.runs]
        rows.append(
            {
                "group": group.name,
                "model": group.model,
                "solver": solver_of(group),
                "epochs": group.get("epochs"),
                "n_train": group.get("n_train"),
                "train_seeds": group.train_seeds,
                "test_accuracy_pct": accuracies,
                "mean_pct": statistics.fmean(accuracies),
                "sd_pct": statistics.stdev(accuracies) if len(accuracies) > 1 else None,
                "late_epochs_mean_pct": late,
                "late_batch_stats_mean_pct": [
                    _pct(late_mean(run.history, "test_accuracy_batch_stats")) for run in group.runs
                ],
                "swing_pts": _mean_or_none(
                    [_pct(mean_abs_step(run.history, "test_accuracy")) for run in group.runs]
                ),
                "swing_batch_stats_pts": _mean_or_none(
                    [
                        _pct(mean_abs_step(run.history, "test_accuracy_batch_stats"))
                        for run in group.runs
                    ]
                ),
                "seconds_per_epoch": [r.get("seconds_per_epoch") for r in group.runs],
                "nfe_mean_forward": [(r.get("nfe") or {}).get("mean_forward") for r in group.runs],
                "provenance": [
                    {k: r.get(k) for k in ("command", "git_commit", "date", "hardware")}
                    | {"data": (r.get("data") or {}).get("sha256")}
                    for r in group.runs
                ],
            }
        )
    for row in rows:
        # The residual CNN trained alike: same epochs and images, same training seeds.
        cnn = [
            r
            for r in rows
            if r["model"] == "resnet"
            and r["epochs"] == row["epochs"]
            and r["n_train"] == row["n_train"]
            and r["train_seeds"] == row["train_seeds"]
        ]
        if row["model"] != "odenet" or not cnn:
            continue
        gap = row["mean_pct"] - cnn[0]["mean_pct"]
        row["compared_with"] = cnn[0]["group"]
        row["minus_resnet_points"] = gap
        row["within_goal"] = gap >= -GOAL_POINTS and len(row["train_seeds"]) >= 3
        late = [v for v in row["late_epochs_mean_pct"] if v is not None]
        late_cnn = [v for v in cnn[0]["late_epochs_mean_pct"] if v is not None]
        if late and late_cnn:
            row["late_minus_resnet_points"] = statistics.fmean(late) - statistics.fmean(late_cnn)
    return {"goal_points": GOAL_POINTS, "late_epochs": LATE_EPOCHS, "rows": rows}


def _pct(value: float | None) -> float | None:
    return None if value is None else 100 * value


def _mean_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def render_markdown(res: dict) -> str:
    header = ["model", "solver", "epochs", "seeds", "test accuracy (mean ± sd)", "each seed"]
    header += ["ODE-Net - CNN (last epoch)", "ODE-Net - CNN (last epochs)"]
    header += [f"last {LATE_EPOCHS} epochs' mean, each seed"]
    header += [f"same, batch statistics (last {LATE_EPOCHS})", "swing: inference / batch stats"]
    header += ["s / epoch"]
    rows = []
    for r in res["rows"]:
        sd = "" if r["sd_pct"] is None else f" ± {r['sd_pct']:.1f}"
        gap = r.get("minus_resnet_points")
        rows.append(
            [
                r["group"],
                r["solver"],
                r["epochs"],
                len(r["train_seeds"]),
                f"{r['mean_pct']:.1f}{sd} %",
                ", ".join(f"{a:.1f}" for a in r["test_accuracy_pct"]),
                "" if gap is None else f"{gap:+.1f} points",
                ""
                if r.get("late_minus_resnet_points") is None
                else f"{r['late_minus_resnet_points']:+.1f} points",
                ", ".join("–" if v is None else f"{v:.1f}" for v in r["late_epochs_mean_pct"]),
                ", ".join("–" if v is None else f"{v:.1f}" for v in r["late_batch_stats_mean_pct"]),
                " / ".join(
                    "–" if v is None else f"{v:.1f}"
                    for v in (r["swing_pts"], r["swing_batch_stats_pts"])
                )
                + " points",
                ", ".join(f"{s:.0f}" for s in r["seconds_per_epoch"] if s),
            ]
        )
    commits = sorted({p["git_commit"] for r in res["rows"] for p in r["provenance"]})
    data = sorted({p["data"][:12] for r in res["rows"] for p in r["provenance"] if p["data"]})
    return (
        "Stand-in test accuracy of finished runs, grouped by settings; the goal: an ODE-Net "
        f"within {res['goal_points']:g} points of the residual CNN's mean over 3 training "
        'seeds (R\'s split). "Batch statistics": the per-epoch test accuracy with each batch '
        "of 32 test images normalised by its own statistics, dropout off (a transductive "
        'diagnostic, `test_accuracy_batch_stats` in history.csv); "swing": the mean absolute '
        "change of the test accuracy from one epoch to the next, with the moving statistics "
        "(inference mode) and with batch statistics. Seconds per epoch are the runs' own, "
        "whatever else the machine was running: compare speed with `bench_odenet_step.py`, "
        "not here."
        "\n\n"
        + H.markdown_table(header, rows)
        + f"\n\nRuns made by commit(s) {', '.join(commits)} on stand-in data sha256 "
        f"{', '.join(data)}; each run's command and date are in the JSON file.\n"
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    from reproduce import runs

    scan = runs.load_runs(args.runs)
    record = H.Record(args.name, args, {"intra_op": None, "inter_op": None})
    res = summarise(runs.seed_groups(scan.runs))
    path = record.finish(res, render_markdown(res))
    print(render_markdown(res))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
