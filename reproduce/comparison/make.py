"""Writing the comparison: read the runs, build the table and the text, write the files."""

from __future__ import annotations

import os
from pathlib import Path

from reproduce.atomic import atomic_write_text
from reproduce.comparison.document import comparison_markdown, figure_links
from reproduce.comparison.explain import explain
from reproduce.comparison.r_history import read_r_history
from reproduce.comparison.readme import readme_block, replace_between_markers
from reproduce.comparison.shares import SplitShares, shares_for_run
from reproduce.comparison.table import comparison_rows, table_notes
from reproduce.errors import ReproduceError
from reproduce.figures.curves import plot_curves_side_by_side
from reproduce.figures.files import file_name
from reproduce.runs import Run, curve_groups, load_runs, primary_data_sha


def run_compare(
    runs_dir: str | os.PathLike = "results",
    out: str | os.PathLike | None = None,
    r_history: str | os.PathLike | None = None,
    r_model: str = "dense",
    readme: str | os.PathLike | None = None,
    data_path: str | None = None,
    compute_shares: bool = True,
) -> Path:
    """Write the comparison; return the path of the Markdown file.

    Args:
        runs_dir: folder of run folders.
        out: the Markdown file (default ``<runs_dir>/COMPARISON.md``).
        r_history: an R keras history CSV (see :func:`reproduce.comparison.r_history.read_r_history`).
        r_model: which of our models that R history belongs to.
        readme: a README whose results block to replace.
        data_path: where the runs' data is, when not at the path recorded in them.
        compute_shares: load the data to compute the test split's class balance.
    """
    runs_dir = Path(runs_dir)
    out = Path(out) if out is not None else runs_dir / "COMPARISON.md"
    readme_text = _read_readme(readme) if readme is not None else None  # fail before doing any work
    scan = load_runs(runs_dir)
    history_r = read_r_history(r_history) if r_history else None
    if history_r is not None and history_r.attrs.get("epochs_without_values"):
        dropped = history_r.attrs["epochs_without_values"]
        print(
            f"R history: epochs {dropped[0]}-{dropped[-1]} have no values (NA: not run); left out"
        )
    figures_dir = runs_dir / "figures"
    if history_r is not None:
        figures_dir.mkdir(parents=True, exist_ok=True)
        plot_curves_side_by_side(
            curve_groups(scan.runs),
            figures_dir / file_name("fig04_07_with_r"),
            r_history=history_r,
            r_model=r_model,
            r_label=Path(r_history).name,
        )
    shares, shares_note = _test_split_shares(scan.runs, data_path) if compute_shares else (None, "")
    rows = comparison_rows(scan.runs, history_r, Path(r_history).name if r_history else "", r_model)
    paragraphs = explain(scan.runs, shares, shares_note)
    notes = table_notes(scan.runs)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        out,
        comparison_markdown(
            scan.runs,
            rows,
            paragraphs,
            figure_links(figures_dir, out.parent),
            scan.skipped,
            str(r_history) if r_history else None,
            notes,
        ),
    )
    if readme is not None:
        readme_path = Path(readme)
        link = Path(os.path.relpath(out.resolve(), readme_path.parent.resolve())).as_posix()
        block = readme_block(rows, figure_links(figures_dir, readme_path.parent), link, notes)
        atomic_write_text(readme_path, replace_between_markers(readme_text, block, str(readme)))
    return out


def _read_readme(readme: str | os.PathLike) -> str:
    """The README's text, checked for its markers (raises ReproduceError otherwise)."""
    try:
        text = Path(readme).read_text(encoding="utf-8")
    except OSError as err:
        raise ReproduceError(f"cannot read README {readme}: {err}") from None
    replace_between_markers(text, "", str(readme))
    return text


def _test_split_shares(runs: list[Run], data_path: str | None) -> tuple[SplitShares | None, str]:
    """Class balance of the test split of the data most runs used, from a dense run
    on it when there is one (its split is the one the text discusses)."""
    sha = primary_data_sha(runs)
    on_that_data = [r for r in runs if r.data_sha256 == sha]
    dense = [r for r in on_that_data if r.model == "dense"] or on_that_data
    if not dense:
        return None, ""
    return shares_for_run(dense[0], data_path)
