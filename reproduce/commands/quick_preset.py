"""``python -m reproduce quick-preset``: the ``--quick`` preset's epochs by a rule fixed in advance
(``RULE``), applied to held-out training images so that the test images play no part in the choice.
"""

from reproduce.commands import folder

#: A fifth of R's 1,300 training images.
VALIDATION_IMAGES = 260
SELECTION_SEEDS = (1, 2, 3)
#: The lengths of the compared runs: the report's 150 epochs where a run takes seconds, a tenth of
#: it for the CNNs, whose epochs take minutes on a CPU.
LENGTHS = {"dense": 150, "resnet": 15, "odenet": 15}
WITHIN_POINTS = 5.0
RULE = (
    f"each model trains with training seeds {', '.join(map(str, SELECTION_SEEDS))} for the length "
    f"of its compared runs ({', '.join(f'{m} {e}' for m, e in LENGTHS.items())} epochs), the last "
    f"{VALIDATION_IMAGES} of R's training images held out (--validation); the quick length is the "
    f"fewest epochs at which the seeds' mean held-out accuracy comes within {WITHIN_POINTS:g} "
    "points of its best over that length"
)


def quick_epochs(curves) -> int:
    """The rule on per-seed held-out accuracy curves (``[seeds, epochs]``, fractions)."""
    import numpy as np

    mean = np.mean(np.asarray(curves, dtype=float), axis=0)
    return int(np.argmax(mean >= mean.max() - WITHIN_POINTS / 100)) + 1


def commands() -> list[str]:
    """The selection runs' command lines, one per model."""
    seeds = " ".join(map(str, SELECTION_SEEDS))
    return [
        f"python -m reproduce {model} --epochs {epochs} --validation {VALIDATION_IMAGES} "
        f"--train-seeds {seeds} --out results/selection"
        for model, epochs in LENGTHS.items()
    ]


def select(runs_dir: str) -> list[dict]:
    """Per model with finished selection runs under ``runs_dir``: the quick length and its curve."""
    from reproduce.errors import ReproduceError
    from reproduce.runs import load_runs

    rows, scanned = [], load_runs(runs_dir).runs
    for model, epochs in LENGTHS.items():
        runs = {
            run.train_seed: run
            for run in scanned
            if run.model == model
            and run.finished
            and run.preprocessing == "r"
            and run.get("validation") == VALIDATION_IMAGES
            and run.get("epochs") == epochs
            and run.train_seed in SELECTION_SEEDS
        }
        if not runs:
            continue
        if missing := sorted(set(SELECTION_SEEDS) - set(runs)):
            raise ReproduceError(f"{model}: no finished selection run for training seed(s) "
                                 f"{missing} under {runs_dir}; run: "
                                 f"{commands()[list(LENGTHS).index(model)]}")  # fmt: skip
        curves = [list(runs[s].history["test_accuracy"]) for s in SELECTION_SEEDS]
        rows.append(
            {
                "model": model,
                "quick_epochs": quick_epochs(curves),
                "mean_validation_accuracy": [sum(c) / len(c) for c in zip(*curves, strict=True)],
                "runs": [runs[s].name for s in SELECTION_SEEDS],
                "commits": sorted({str(runs[s].get("git_commit")) for s in SELECTION_SEEDS}),
            }
        )
    return rows


def _command(args) -> int:
    from pathlib import Path

    from reproduce import provenance
    from reproduce.atomic import atomic_write_json
    from reproduce.errors import ReproduceError

    if not (rows := select(args.runs)):
        raise ReproduceError(
            f"no finished selection runs under {args.runs}; make them with: "
            + "; ".join(commands())
        )
    for row in rows:
        curve, epochs = row["mean_validation_accuracy"], row["quick_epochs"]
        print(
            f"{row['model']}: quick preset {epochs} epochs (mean held-out accuracy "
            f"{100 * curve[epochs - 1]:.1f}%, best {100 * max(curve):.1f}% in {len(curve)} epochs)"
        )
    command = provenance.command_line(["quick-preset", "--runs", args.runs])
    record = {"rule": RULE, "models": rows, "provenance": provenance.record(command)}
    path = atomic_write_json(Path(args.runs) / "quick_preset.json", record)
    print(f"wrote {path}")
    return 0


def register(subparsers) -> None:
    """Add the ``quick-preset`` command."""
    parser = subparsers.add_parser(
        "quick-preset",
        help="the --quick preset's epochs by its rule, from runs on held-out training images",
        description=f"Apply the --quick preset's rule to finished selection runs: {RULE}.",
    )
    default = "results/selection"
    parser.add_argument("--runs", type=folder, default=default, help=f"(default: {default})")
    parser.set_defaults(func=_command)
