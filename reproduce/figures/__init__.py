"""The report's figures 3-11, regenerated (``python -m reproduce figures``), and
``manifest.json``: per file its figure, report section, sha256 and provenance."""

import hashlib
import json
import os
from pathlib import Path

from reproduce import provenance, report_claims
from reproduce.atomic import atomic_write_text
from reproduce.data import resolve_data
from reproduce.errors import ReproduceError
from reproduce.figures import odes, r_images, report_curves, toy
from reproduce.runs import curve_groups, load_runs

#: ``--only`` key -> file name, in the report's order.
FIGURES = {key: f"{key}_{name}.png" for key, name in [("fig03", "images"),
           ("fig04_07", "curves"), ("fig08", "trajectories"), ("fig09", "solution_curves"),
           ("fig10", "phase_portrait"), ("fig11", "euler")]}  # fmt: skip


def make_figures(
    data_path=None,
    runs_dir: str | os.PathLike = "runs",
    out_dir: str | os.PathLike = "runs/figures",
    command: str | None = None,
    only: tuple[str, ...] | None = None,
) -> Path:
    """Write the figures (all, or the :data:`FIGURES` keys in ``only``) and ``manifest.json``
    into ``out_dir``; return its path. ``data_path``: Figure 3's, as ``resolve_data`` takes it."""
    if unknown := set(only or ()) - set(FIGURES):
        named = ", ".join(map(repr, sorted(unknown)))
        raise ReproduceError(f"unknown figure(s) {named}; choose from {', '.join(FIGURES)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    entries = []

    def record(name: str, figure: str, section: str, **extra) -> None:
        sha = hashlib.sha256((out / name).read_bytes()).hexdigest()
        entries.append({"file": name, "figure": figure, "report_section": section,
                        "sha256": sha, "data": None, **extra})  # fmt: skip

    for key in [k for k in FIGURES if not only or k in only]:
        path = out / FIGURES[key]
        if key == "fig03":
            frame, source = resolve_data(data_path)
            images, labels = r_images.r_plotted_training_images(frame)
            label = f"{source.kind} ({source.n_records} records), sha256 {source.sha256[:12]}"
            r_images.plot_image_grid(images, labels, path, label)
            record(path.name, "Figure 3", report_claims.IMAGE_GRID_SECTION, data=source.to_dict())
        elif key == "fig04_07":
            groups = curve_groups(load_runs(runs_dir).runs) if Path(runs_dir).is_dir() else {}
            report_curves.plot_curves(groups, path)
            drawn = {model: [{"run": g.name, "runs": [r.name for r in g.runs],
                              "train_seeds": g.train_seeds, "preprocessing": g.preprocessing,
                              "status": g.get("status"), "epochs": g.get("epochs"),
                              "data": g.get("data")} for g in gs]
                     for model, gs in groups.items()}  # fmt: skip
            record(path.name, "Figures 4 and 7", report_claims.CURVES_SECTION, runs=drawn)
        elif key == "fig08":
            result = toy.train_toy_models()
            toy.plot_trajectories(result, path)
            record(path.name, "Figure 8", report_claims.TRAJECTORIES_SECTION,
                   toy={"target": result.target, "depth": result.depth,
                        "resnet_mse": list(result.resnet_loss), "ode_mse": list(result.ode_loss)})  # fmt: skip
        elif key == "fig09":
            curves = odes.solution_curves()
            odes.plot_solution_curves(curves, path)
            check = {"max_abs_error": curves.max_error, "rtol": odes.SOLUTION_RTOL,
                     "max_error_to_tolerance": curves.error_to_tolerance, "atol": odes.SOLUTION_ATOL}  # fmt: skip
            record(path.name, "Figure 9", report_claims.SOLUTION_CURVES_SECTION, check=check)
        elif key == "fig10":
            _, equilibria = odes.plot_phase_portrait(path)
            record(path.name, "Figure 10", report_claims.PHASE_PORTRAIT_SECTION,
                   equilibria=[{"y": e.y, "stability": e.stability} for e in equilibria],
                   parameters={"r": odes.LOGISTIC_R, "K": odes.LOGISTIC_K})  # fmt: skip
        else:
            table = odes.euler_table()
            odes.plot_euler(table, path)
            atomic_write_text(out / "euler_table.csv", table.to_csv(index=False))
            atomic_write_text(out / "euler_table.md", odes.euler_table_markdown(table))
            for name in (path.name, "euler_table.csv", "euler_table.md"):
                record(name, "Figure 11" if name == path.name else "Euler table",
                       report_claims.EULER_TABLE_SECTION)  # fmt: skip
    try:  # merged into manifest.json: figures not redrawn keep their entries
        files = {e["file"]: e for e in json.loads((out / "manifest.json").read_text())["files"]}
    except (OSError, ValueError, KeyError, TypeError):
        files = {}
    common = provenance.record(command, extra_versions=("matplotlib",))
    files.update({e["file"]: {**e, **common} for e in entries})
    manifest = json.dumps({"files": [files[name] for name in sorted(files)]}, indent=2, default=str)
    return atomic_write_text(out / "manifest.json", manifest + "\n")
