"""The comparison table: the report's figures, our runs and an R history as Markdown rows.

Every cell of a run's row is read from its metrics; the report's rows quote
:mod:`reproduce.report_claims`.
"""

from __future__ import annotations

from reproduce.comparison.formatting import num, pct
from reproduce.comparison.r_history import last_value
from reproduce.report_claims import CLAIMS, AccuracyClaim
from reproduce.runs import MODEL_ORDER, Run


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
    "test loss",
    "train accuracy",
    "train loss",
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
    ]


def run_row(run: Run) -> list[str]:
    """The table row of one run, every number read from its ``metrics.json``."""
    params = run.get("params")
    return [
        f"`{run.name}`",
        run.model,
        {"r": "r (faithful)", "corrected": "corrected"}.get(run.preprocessing, run.preprocessing),
        str(run.get("status", "?")),
        _epochs_label(run),
        _images_label(run),
        _data_label(run.get("data")),
        pct(run.get("test_accuracy")),
        num(run.get("test_loss")),
        pct(run.get("train_accuracy")),
        num(run.get("train_loss")),
        "–" if params is None else f"{int(params):,}",
        _wall_time(run.get("wall_time_s")),
        _nfe_label(run.get("nfe")),
        _escape(run.get("hardware", "–")),
    ]


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
        "–" if val_loss is None else f"{num(val_loss)} (validation)",
        pct(last_value(history, "accuracy")),
        num(last_value(history, "loss")),
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
        rows += [run_row(run) for run in runs if run.model == model]
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
    return notes
