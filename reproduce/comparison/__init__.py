"""``python -m reproduce compare``: tables of numbers from the run folders beside the report's
figures, written as ``comparison.md`` and ``comparison.csv``. The words that interpret them
are written by hand (``results/COMPARISON.md``, the README), never generated."""

from __future__ import annotations

import os
from pathlib import Path

from reproduce import provenance
from reproduce.atomic import atomic_write_text
from reproduce.comparison.majority import majority_share
from reproduce.comparison.r_history import read_r_history
from reproduce.comparison.table import claim_rows, comparison_tables, csv_cell, markdown
from reproduce.runs import curve_groups, load_runs


def run_compare(
    runs_dir: str | os.PathLike = "runs",
    out: str | os.PathLike = "runs",
    r_history: str | os.PathLike | None = None,
    r_model: str = "dense",
    data_path: str | None = None,
    compute_shares: bool = True,
    command: str | None = None,
) -> tuple[Path, Path]:
    """Write ``comparison.md`` and ``comparison.csv`` into ``out``; return their paths.

    Args:
        runs_dir: folder of run folders; out: output folder.
        r_history: an R keras history CSV (:func:`read_r_history`): adds a table, and its
            curves to ``out/figures/fig04_07_curves_with_r.png``; r_model: its model.
        data_path: the runs' ``train.json`` when not at the recorded path.
        compute_shares: load the data for the majority share of the test split.
        command: the command line to record (default: this process's).
    """
    import pandas as pd

    scan = load_runs(runs_dir)
    history = read_r_history(r_history) if r_history else None  # fails before any writing
    share = (lambda run: majority_share(run, data_path)) if compute_shares else (lambda run: None)
    groups, runs = comparison_tables(scan.runs, share)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = " / ".join(dict.fromkeys(row["data"] for row in groups)) or "–"
    parts = [
        "# Our runs beside the report's figures",
        f"`{command or provenance.command_line()}` on {provenance.utc_now()}; data: {data}; "
        f"code: {provenance.git_commit()}; {len(scan.runs)} run folders.",
        "## The report's figures",
        markdown(claim_rows()),
        "## Seed groups: mean and 95% Student-t interval over the training seeds",
        markdown(groups),
        "## Runs",
        markdown(runs),
    ]
    if scan.skipped:
        parts += ["## Skipped", markdown([{"folder": n, "why": w} for n, w in scan.skipped])]
    if history is not None:
        last = {c: float(history[c].dropna().iloc[-1]) for c in history.columns if c != "epoch"}
        r_row = {"file": Path(r_history).name, "model": r_model, "epochs": len(history), **last}
        parts += ["## R keras history (last epoch)", markdown([r_row])]
        from reproduce.figures.report_curves import plot_curves

        plot_curves(
            curve_groups(scan.runs),
            out / "figures" / "fig04_07_curves_with_r.png",
            r_history=(history, r_model, Path(r_history).name),
        )
    text = "\n\n".join(parts) + "\n"
    print(text)
    md = atomic_write_text(out / "comparison.md", text)
    table = pd.DataFrame([{k: csv_cell(v) for k, v in row.items()} for row in groups])
    csv = atomic_write_text(out / "comparison.csv", table.to_csv(index=False))
    return md, csv
