"""``python -m reproduce compare``: tables of numbers from the run folders beside the report's
figures, written as ``comparison.md`` and ``comparison.csv``. The words that interpret them
are written by hand (``COMPARISON.md``, the README), never generated."""

import os
from pathlib import Path

from reproduce import provenance
from reproduce.atomic import atomic_write_text
from reproduce.comparison.table import claim_rows, comparison_tables, csv_cell, markdown
from reproduce.errors import ReproduceError
from reproduce.runs import RunRecord, load_runs


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
    groups, runs, paired = comparison_tables(scan.runs, share)
    data = " / ".join(dict.fromkeys(row["data"] for row in groups)) or "–"
    parts = [
        "# Our runs beside the report's figures",
        f"`{command or provenance.command_line()}` on {provenance.utc_now()}; data: {data}; "
        f"code: {provenance.git_commit()}; {len(scan.runs)} run folders.",
        "## The report's figures",
        markdown(claim_rows()),
        "## Seed groups: mean and 95% Student-t interval over the training seeds",
        markdown(groups),
        "## Paired differences: the same training seeds, test accuracy of one minus the other",
        markdown(paired),
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


def majority_share(run: RunRecord, data_path: str | None = None) -> float | None:
    """Share of the more frequent class among the split's test labels, read from ``data_path``,
    the recorded path or the regenerated stand-in with the run's sha256 (else ``None``)."""
    from reproduce.preprocess import report_split

    data = run.data
    found = (_labels(data.get("kind"), data.get("sha256"), data.get("n_records"), path)
             for path in (data_path, data.get("path")))  # fmt: skip
    labels = next((labels for labels in found if labels is not None), None)
    if labels is None:
        return None
    seed, kind = int(run.get("seed", 1)), str(run.get("sample_kind", "Rounding"))
    test = labels[report_split(len(labels), seed=seed, kind=kind)[1]][: run.get("limit_test")]
    iceberg = float(test.mean())
    return max(iceberg, 1.0 - iceberg)


def _labels(kind, sha256, n_records, path):
    """The labels of the run's data, or ``None`` when they are not here under its sha256."""
    from reproduce.data import resolve_data, source  # both cache what they read or generate

    if kind == "stand-in":
        frame, found = source._stand_in(int(n_records or 1604), source.STAND_IN_SEED)
    elif not path or not Path(path).is_file():
        return None
    else:
        try:
            frame, found = resolve_data(path)
        except ReproduceError:
            return None
        found = found.sha256
    return frame["is_iceberg"].to_numpy().astype(int) if found == sha256 else None
