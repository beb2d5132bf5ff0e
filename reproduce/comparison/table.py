"""The comparison table: the report's figures, our runs and an R history as Markdown rows.

Our runs are shown one row per seed group (:class:`reproduce.runs.SeedGroup`:
runs that differ only in the training seed): test accuracy, test loss and the
inference-mode training accuracy as mean ± sample standard deviation over the
seeds with n, e.g. ``87.2 ± 1.3 % (n=3)``, and every seed's test accuracy in
a column of its own. A group whose every seed predicts one class for all test
images is named ``constant (3/3 seeds)``. Every cell is read from the runs'
metrics; the report's rows quote :mod:`reproduce.report_claims`.
"""

from __future__ import annotations

from reproduce.comparison.explain import binomial_margin
from reproduce.comparison.formatting import num, pct
from reproduce.comparison.r_history import last_value
from reproduce.report_claims import CLAIMS, AccuracyClaim
from reproduce.runs import MODEL_ORDER, Run, SeedGroup, mean_sd, seed_groups, train_seed


def _wall_time(seconds) -> str:
    if seconds is None:
        return "–"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _data_label(data: dict | None) -> str:
    if not data:
        return "–"
    kind = data.get("kind", "?")
    sha = str(data.get("sha256") or "")[:12]
    return f"{kind} `{sha}`" if sha else str(kind)


def _nfe_label(nfe) -> str:
    if not nfe:
        return "–"
    last, mean = nfe.get("last_forward"), nfe.get("mean_forward")
    parts = []
    if last is not None:
        parts.append(f"{last} (last)")
    if mean is not None:
        parts.append(f"{mean:.1f} (mean)")
    return ", ".join(parts) or "–"


def _epochs_label(run: Run) -> str:
    done, planned = run.get("epochs"), run.get("epochs_planned")
    text = "–" if done is None else str(done)
    if planned is not None and planned != done:
        text += f" of {planned}"
    if run.get("quick"):
        text += " (quick)"
    return text


def _images_label(run: Run) -> str:
    n_train, n_test = run.get("n_train"), run.get("n_test")
    return (
        "–"
        if n_train is None and n_test is None
        else f"{n_train if n_train is not None else '?'}/{n_test if n_test is not None else '?'}"
    )


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


TABLE_HEADER = (
    "source",
    "model",
    "preprocessing",
    "status",
    "epochs",
    "images (train/test)",
    "data",
    "test accuracy",
    "per training seed: test accuracy",
    "test loss",
    "train accuracy (inference)",
    "train accuracy (training mode)",
    "params",
    "wall time",
    "NFE",
    "hardware",
)


def claim_row(claim: AccuracyClaim) -> list[str]:
    """The table row of one of the report's figures."""
    return [
        f"report §{claim.section}",
        claim.model,
        "r (as printed)" if claim.epochs else "–",
        "reported" if claim.epochs else "not trained",
        "–" if claim.epochs is None else str(claim.epochs),
        "–" if claim.n_train is None else f"{claim.n_train}/{claim.n_test}",
        "real (Kaggle)" if claim.epochs else "–",
        claim.display()
        + (
            ""
            if claim.split.startswith("test") or claim.test_accuracy is None
            else " (split unclear)"
        ),
        "–",
        "–",
        "–",
        "–",
        "–",
        "–",
        "–",
        "–",
    ]


def mean_sd_text(stats, scale: float = 100.0, fmt: str = ".1f", unit: str = " %") -> str:
    """``(mean, sd, n)`` as ``87.2 ± 1.3 % (n=3)``; one value as ``87.2 % (n=1)``."""
    mean, sd, n = stats
    if not n:
        return "–"
    spread = "" if sd is None else f" ± {format(sd * scale, fmt)}"
    return f"{format(mean * scale, fmt)}{spread}{unit} (n={n})"


def _constant_text(group: SeedGroup) -> str:
    constant, known = group.constant()
    if not constant:
        return ""
    if constant == known == group.n:
        return f"; constant ({constant}/{group.n} seeds)"
    return f"; constant in {constant}/{known} seeds"


def _per_seed(group: SeedGroup) -> str:
    return ", ".join(f"{train_seed(run)}: {pct(run.get('test_accuracy'))}" for run in group.runs)


def _group_nfe(group: SeedGroup) -> str:
    if group.n == 1:
        return _nfe_label(group.get("nfe"))
    means = [(run.get("nfe") or {}).get("mean_forward") for run in group.runs]
    mean, _, n = mean_sd(means)
    return "–" if not n else f"{mean:.1f} (mean of {n} runs)"


def _source(group: SeedGroup) -> str:
    return ", ".join(f"`{run.name}`" for run in group.runs)


def group_row(group: SeedGroup) -> list[str]:
    """The table row of a seed group, every number read from its runs' ``metrics.json``."""
    params = group.get("params")
    wall, _, n_wall = mean_sd(group.values("wall_time_s"))
    hardware = dict.fromkeys(str(run.get("hardware", "–")) for run in group.runs)
    return [
        _source(group),
        group.model,
        {"r": "r (faithful)", "corrected": "corrected"}.get(
            group.preprocessing, group.preprocessing
        ),
        str(group.get("status", "?")),
        _epochs_label(group),
        _images_label(group),
        _data_label(group.get("data")),
        mean_sd_text(group.stats("test_accuracy")) + _constant_text(group),
        _per_seed(group),
        mean_sd_text(group.stats("test_loss"), scale=1.0, fmt=".3f", unit=""),
        mean_sd_text(group.stats("train_accuracy_inference")),
        mean_sd_text(group.stats("train_accuracy")),
        "–" if params is None else f"{int(params):,}",
        _wall_time(wall) + (" (mean)" if n_wall > 1 else ""),
        _group_nfe(group),
        _escape(" / ".join(hardware)),
    ]


def run_row(run: Run) -> list[str]:
    """The table row of one run alone (a seed group of one)."""
    return group_row(SeedGroup([run]))


def r_history_row(history, label: str, model: str) -> list[str]:
    """The table row of an R keras history (final training values; validation, if any,
    stands in the test columns, marked as such)."""
    val_acc = last_value(history, "val_accuracy")
    val_loss = last_value(history, "val_loss")
    return [
        f"R keras `{_escape(label)}`",
        model,
        "r (R itself)",
        "history",
        str(int(history["epoch"].max())),
        "–",
        "–",
        "–" if val_acc is None else f"{pct(val_acc)} (validation)",
        "–",
        "–" if val_loss is None else f"{num(val_loss)} (validation)",
        "–",
        pct(last_value(history, "accuracy")),
        "–",
        "–",
        "–",
        "–",
    ]


def markdown_table(rows: list[list[str]], header=TABLE_HEADER) -> str:
    """Render rows as a GitHub Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(cell for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def comparison_rows(
    runs: list[Run], r_history=None, r_label: str = "", r_model: str = "dense"
) -> list[list[str]]:
    """All table rows: per model, the report's figure, then our runs, then R's history."""
    rows: list[list[str]] = []
    models = list(MODEL_ORDER) + sorted({r.model for r in runs} - set(MODEL_ORDER))
    for model in models:
        if model in CLAIMS:
            rows.append(claim_row(CLAIMS[model]))
        rows += [group_row(group) for group in seed_groups(runs) if group.model == model]
        if r_history is not None and model == r_model:
            rows.append(r_history_row(r_history, r_label, r_model))
    return rows


def table_notes(runs: list[Run]) -> list[str]:
    """What a reader must know beside the table, computed from the runs shown.

    The report's rows are on Kaggle's real data: beside runs on the stand-in,
    a number that matches is chance, not a reproduction. Runs made by
    different code versions (``git_commit``, ``-dirty`` when the tree had
    changes) are named per version, since their numbers need not agree.
    """
    notes = []
    if any((run.get("data") or {}).get("kind") == "stand-in" for run in runs):
        notes.append(
            "The report's rows are its own numbers on Kaggle's real data; rows marked "
            "stand-in are ours on the generated stand-in. Where the two agree, that is chance, "
            "not a reproduction."
        )
    versions: dict[str, list[str]] = {}
    for run in runs:
        commit = str(run.get("git_commit") or "unknown")
        short = commit[:7] + ("-dirty" if commit.endswith("-dirty") else "")
        versions.setdefault(short, []).append(run.name)
    if len(versions) > 1 or any(v.endswith("-dirty") for v in versions):
        listed = "; ".join(f"`{v}`: {', '.join(names)}" for v, names in sorted(versions.items()))
        notes.append(
            f"These runs were made by {len(versions)} code version(s) ({listed}); "
            "a version marked -dirty had uncommitted changes."
        )
    return notes + seed_notes(runs)


def seed_notes(runs: list[Run]) -> list[str]:
    """What the training seeds behind each row allow a reader to conclude.

    ``±`` is the sample standard deviation over the training seeds; a row of
    one seed cannot separate its settings from the draws of one training; a
    report figure is called consistent with our runs only where it lies within
    the spread (lowest to highest) of two or more seeds, and a single-seed
    match (within two binomial standard errors) leaves chance open.
    """
    groups = seed_groups(runs)
    if not groups:
        return []
    notes = [
        "Each row of ours is a seed group: runs that differ only in the training seed "
        "(weights, dropout, shuffling), on the split of the same set.seed(); ± is the sample "
        "standard deviation over those seeds (n - 1), n the number of seeds."
    ]
    single = [f"`{g.name}`" for g in groups if g.n == 1]
    if single:
        notes.append(
            f"n=1 ({', '.join(single)}): one training seed, so the draws of one training are not "
            "separated from the settings; a difference or a match there may be chance."
        )
    if any(g.constant()[0] for g in groups):
        notes.append(
            "constant: the seeds' models predict one class for every test image "
            "(their accuracy is that class's share of the test split)."
        )
    notes += [text for g in groups if (text := _claim_match(g))]
    return notes


def _claim_match(group: SeedGroup) -> str:
    """A note when the report's figure for the group's model matches our seeds' test accuracy."""
    claim = CLAIMS.get(group.model)
    accuracies = [a for a in group.values("test_accuracy") if a is not None]
    if claim is None or claim.test_accuracy is None or not accuracies:
        return ""
    target, low, high = claim.test_accuracy, min(accuracies), max(accuracies)
    stand_in = (group.get("data") or {}).get("kind") == "stand-in"
    caveat = " (on the stand-in: not a reproduction either way)" if stand_in else ""
    figure = f"The report's {claim.display()} ({claim.model})"
    if len(accuracies) == 1:
        n_test = int(group.get("n_test") or claim.n_test or 304)
        close = abs(high - target) <= binomial_margin(target, n_test)
        if (claim.qualifier == ">" and high > target) or (claim.qualifier != ">" and close):
            return (
                f"{figure} matches `{group.name}` ({pct(high)}) on a single training seed: "
                f"chance not excluded{caveat}."
            )
        return ""
    if claim.qualifier == ">":
        clearing = sum(a > target for a in accuracies)
        if clearing:
            return (
                f"{figure}: {clearing} of the {len(accuracies)} seeds of `{group.name}` clear it "
                f"(spread {pct(low)} to {pct(high)}): consistent with it{caveat}."
            )
        return ""
    if low <= target <= high:
        return (
            f"{figure} lies within the spread of the {len(accuracies)} seeds of `{group.name}` "
            f"({pct(low)} to {pct(high)}): consistent with it{caveat}."
        )
    return ""
