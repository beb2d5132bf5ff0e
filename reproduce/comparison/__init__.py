"""``python -m reproduce compare``: tables of numbers from the run folders beside the report's
figures, written as ``comparison.md`` and ``comparison.csv``. The words that interpret them
are written by hand (``COMPARISON.md``, the README), never generated."""

import os
from pathlib import Path

from reproduce import provenance
from reproduce.atomic import atomic_write_text
from reproduce.comparison.majority import majority_share
from reproduce.comparison.table import claim_rows, comparison_tables, csv_cell, markdown
from reproduce.errors import ReproduceError
from reproduce.runs import load_runs


def run_compare(
    runs_dir: str | os.PathLike = "runs",
    out: str | os.PathLike = "runs",
    data_path: str | None = None,
    compute_shares: bool = True,
    command: str | None = None,
) -> tuple[Path, Path]:
    """Write ``comparison.md`` and ``comparison.csv`` of the runs under ``runs_dir`` into ``out``;
    return their paths. ``data_path``: the runs' ``train.json`` when not at the recorded path;
    ``compute_shares``: load it for the majority-class share; ``command``: the one to record."""
    import pandas as pd

    scan = load_runs(runs_dir)
    for run in scan.runs:  # a value of the wrong type (a damaged or hand-edited file), by file
        try:
            comparison_tables([run])
        except (TypeError, ValueError, AttributeError) as err:
            why = f"{run.folder}/metrics.json: {' '.join(str(err).split())[:200]}"
            raise ReproduceError(f"{why}; fix it or move its run folder") from err
    share = (lambda run: majority_share(run, data_path)) if compute_shares else (lambda run: None)
    groups, runs = comparison_tables(scan.runs, share)
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
    text = "\n\n".join(parts) + "\n"
    print(text)
    Path(out).mkdir(parents=True, exist_ok=True)
    md = atomic_write_text(Path(out) / "comparison.md", text)
    table = pd.DataFrame([{k: csv_cell(v) for k, v in row.items()} for row in groups])
    return md, atomic_write_text(Path(out) / "comparison.csv", table.to_csv(index=False))
