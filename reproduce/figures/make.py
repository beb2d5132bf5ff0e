"""Writing the figures and ``manifest.json``, which lists per file the command, the data
(for Figure 3), the runs (for Figures 4 and 7), versions and the date."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from reproduce import provenance, report_claims
from reproduce.atomic import atomic_write_text
from reproduce.errors import ReproduceError
from reproduce.figures.curves import plot_curves_side_by_side
from reproduce.figures.files import FIGURES, file_name
from reproduce.figures.odes import (
    LOGISTIC_K,
    LOGISTIC_R,
    SOLUTION_ATOL,
    SOLUTION_RTOL,
    euler_table,
    euler_table_markdown,
    plot_euler,
    plot_phase_portrait,
    plot_solution_curves,
    solution_curves,
)
from reproduce.figures.r_images import plot_image_grid, r_plotted_training_images
from reproduce.figures.toy import plot_trajectories, train_toy_models
from reproduce.runs import curve_groups, load_runs

#: What ``--only`` accepts, in the report's order.
FIGURE_KEYS = tuple(key for key in FIGURES if key != "fig04_07_with_r")  # compare draws that one


def make_figures(
    data_path=None,
    runs_dir="results",
    out_dir=None,
    command: str | None = None,
    only: tuple[str, ...] | None = None,
) -> Path:
    """Write every figure (or those named in ``only``) and ``manifest.json``; return the manifest path.

    Args:
        data_path: train.json for Figure 3 (see :func:`reproduce.data.resolve_data`).
        runs_dir: run folders for Figures 4 and 7.
        out_dir: where to write (default ``<runs_dir>/figures``).
        command: the command line to record (default: this process's argv).
        only: figure keys among :data:`FIGURE_KEYS`.

    Raises:
        ReproduceError: an unknown figure key; DataError: unreadable data (Figure 3).
        RuntimeError: the solver misses its tolerance (Figure 9).
    """
    out_dir = Path(out_dir) if out_dir is not None else Path(runs_dir) / "figures"
    out_dir.mkdir(parents=True, exist_ok=True)
    command = command or provenance.command_line()
    wanted = set(only) if only else set(FIGURE_KEYS)
    unknown = wanted - set(FIGURE_KEYS)
    if unknown:
        raise ReproduceError(f"unknown figure(s): {', '.join(sorted(unknown))}")
    manifest = _Manifest(out_dir / "manifest.json")
    writers = {
        "fig03": lambda: _write_image_grid(manifest, out_dir, data_path),
        "fig04_07": lambda: _write_curves(manifest, out_dir, runs_dir),
        "fig08": lambda: _write_trajectories(manifest, out_dir),
        "fig09": lambda: _write_solution_curves(manifest, out_dir),
        "fig10": lambda: _write_phase_portrait(manifest, out_dir),
        "fig11": lambda: _write_euler(manifest, out_dir),
    }
    for key in FIGURE_KEYS:
        if key in wanted:
            writers[key]()
    return manifest.write(command)


class _Manifest:
    """The files written in this call, then merged into ``manifest.json``."""

    def __init__(self, path: Path):
        self.path = path
        self.entries: list[dict] = []

    def record(self, path: Path, figure: str, section: str, **extra) -> None:
        self.entries.append(
            {
                "file": path.name,
                "figure": figure,
                "report_section": section,
                "sha256": _sha256(path),
                "data": None,
                **extra,
            }
        )
        print(f"wrote {path}")

    def write(self, command: str) -> Path:
        """Write the manifest: this call's entries, and the earlier entries of
        figures not regenerated this time."""
        previous = {}
        if self.path.is_file():
            try:
                previous = {e["file"]: e for e in json.loads(self.path.read_text())["files"]}
            except (ValueError, KeyError, TypeError):
                previous = {}
        versions = provenance.versions()
        versions["matplotlib"] = _matplotlib_version()
        common = {
            "command": command,
            "versions": versions,
            "git_commit": provenance.git_commit(),
            "date": provenance.utc_now(),
            "hardware": provenance.hardware(),
        }
        for entry in self.entries:
            previous[entry["file"]] = {**entry, **common}
        manifest = {"files": [previous[name] for name in sorted(previous)]}
        atomic_write_text(self.path, json.dumps(manifest, indent=2, default=str) + "\n")
        return self.path


def _write_image_grid(manifest: _Manifest, out_dir: Path, data_path) -> None:
    from reproduce.data import resolve_data

    frame, source = resolve_data(data_path)
    images, labels = r_plotted_training_images(frame)
    path = plot_image_grid(images, labels, out_dir / file_name("fig03"), data_label(source))
    manifest.record(path, "Figure 3", report_claims.IMAGE_GRID_SECTION, data=source.to_dict())


def _write_curves(manifest: _Manifest, out_dir: Path, runs_dir) -> None:
    runs_path = Path(runs_dir)
    runs = curve_groups(load_runs(runs_path).runs) if runs_path.is_dir() else {}
    path = plot_curves_side_by_side(runs, out_dir / file_name("fig04_07"))
    manifest.record(
        path,
        "Figures 4 and 7",
        "2.2.3 (Figure 4), 3.2 (Figure 7)",
        runs={
            m: [
                {
                    "run": r.name,
                    "runs": [run.name for run in r.runs],
                    "train_seeds": r.train_seeds,
                    "preprocessing": r.preprocessing,
                    "status": r.get("status"),
                    "epochs": r.get("epochs"),
                    "data": r.get("data"),
                }
                for r in rs
            ]
            for m, rs in runs.items()
        },
    )


def _write_trajectories(manifest: _Manifest, out_dir: Path) -> None:
    result = train_toy_models()
    path = plot_trajectories(result, out_dir / file_name("fig08"))
    manifest.record(
        path,
        "Figure 8",
        report_claims.TRAJECTORIES_SECTION,
        toy={
            "target": result.target,
            "depth": result.depth,
            "resnet_mse": list(result.resnet_loss),
            "ode_mse": list(result.ode_loss),
        },
    )


def _write_solution_curves(manifest: _Manifest, out_dir: Path) -> None:
    curves = solution_curves()
    path = plot_solution_curves(curves, out_dir / file_name("fig09"))
    manifest.record(
        path,
        "Figure 9",
        report_claims.SOLUTION_CURVES_SECTION,
        check={
            "max_abs_error": curves.max_error,
            "max_error_to_tolerance": curves.error_to_tolerance,
            "rtol": SOLUTION_RTOL,
            "atol": SOLUTION_ATOL,
        },
    )


def _write_phase_portrait(manifest: _Manifest, out_dir: Path) -> None:
    path, equilibria = plot_phase_portrait(out_dir / file_name("fig10"))
    manifest.record(
        path,
        "Figure 10",
        report_claims.PHASE_PORTRAIT_SECTION,
        equilibria=[{"y": e.y, "stability": e.stability} for e in equilibria],
        parameters={"r": LOGISTIC_R, "K": LOGISTIC_K},
    )


def _write_euler(manifest: _Manifest, out_dir: Path) -> None:
    table = euler_table()
    path = plot_euler(table, out_dir / file_name("fig11"))
    manifest.record(path, "Figure 11", report_claims.EULER_TABLE_SECTION)
    csv_path = out_dir / "euler_table.csv"
    table.to_csv(csv_path, index=False)
    manifest.record(csv_path, "Euler table", report_claims.EULER_TABLE_SECTION)
    md_path = out_dir / "euler_table.md"
    atomic_write_text(md_path, euler_table_markdown(table))
    manifest.record(md_path, "Euler table", report_claims.EULER_TABLE_SECTION)


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _matplotlib_version() -> str:
    import matplotlib

    return matplotlib.__version__


def data_label(source) -> str:
    """'real train.json sha256 1a2b3c4d5e6f' or 'stand-in ...' for figure titles."""
    return f"{source.kind} ({source.n_records} records), sha256 {source.sha256[:12]}"
