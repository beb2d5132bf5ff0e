"""Merge the ``bench_odeint.py`` runs (threads 1 and 2, runs a and b) into one table.

``python benchmarks/_odeint_combine.py [--results DIR]`` reads
``odeint_t<threads>[_<label>].json`` from DIR (default ``results/benchmarks``) and
writes ``odeint.md`` there: every headline figure with the runs side by side, so
run-to-run spread is visible next to the thread effect. :func:`summary_rows` gives
the goal rows for a README table.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import _harness as H
from _odeint_report import GOAL, goal_rows

_NAME = re.compile(r"^odeint_t(\d+)(?:_(\w+))?\.json$")


def load_runs(results_dir: Path) -> dict[str, dict]:
    """{"t1 a": record, ...} for every run file, ordered by threads then label."""
    found = []
    for path in Path(results_dir).glob("odeint_t*.json"):
        m = _NAME.match(path.name)
        if m:
            found.append((int(m.group(1)), m.group(2) or "", path))
    return {
        f"t{t}" + (f" {label}" if label else ""): json.loads(path.read_text())
        for t, label, path in sorted(found)
    }


def _figures(res: dict) -> list[tuple[str, str]]:
    """(measure, figure) pairs of one run, in table order."""
    tols, fwd, adj, fast = res["tolerances"], res["forward"], res["adjoint"], res["fastest"]
    semi = adj["rows"]
    out = [("error bar (torchdiffeq dopri5 at 1e-3)", f"{tols['bar']:.2e}")]
    for side in ("ours", "theirs"):
        t = tols[side]
        out.append((f"tolerance, NFE: {side}", f"{t['tol']:g}, {t['nfe']}"))
    out += [
        (m, f"{r['median']:.3f} [{r['q1']:.3f}-{r['q3']:.3f}]") for m, r, _, _ in goal_rows(res)
    ]
    for name in semi:
        g = semi[name]["grad_error"]
        out.append((f"grad error y0 / params: {name}", f"{g['y0']:.1e} / {g['params']:.1e}"))
    rows = fwd["rows"]
    out.append(
        (
            "forward s: ours / torchdiffeq",
            f"{rows['ODEBlock (shipped layers)']['median_s']:.3f} / "
            f"{rows['torchdiffeq odeint']['median_s']:.3f}",
        )
    )
    out.append(("fastest steps", f"{fast['fastest_ours']} vs {fast['fastest_theirs']}"))
    out.append(("PyTorch memory format", res["torch_format"]["used"]))
    return out


def combined_markdown(runs: dict[str, dict]) -> str:
    """One table, a column per run, plus each run's machine load."""
    columns = list(runs)
    table: dict[str, dict[str, str]] = {}
    for col, rec in runs.items():
        for measure, fig in _figures(rec["results"]):
            table.setdefault(measure, {})[col] = fig
    rows = [[m] + [figs.get(c, "") for c in columns] for m, figs in table.items()]
    loads = [
        f"- {c}: {rec['date']}, load {rec['load_average_start']} -> {rec['load_average_end']}, "
        f"{rec['wall_time_s']} s, commit {rec['git_commit']}"
        for c, rec in runs.items()
    ]
    return "\n".join(
        [
            "# odeint: odelayers vs torchdiffeq at equal accuracy (all runs)\n",
            f"Ratios ours / theirs: median [IQR] of per-round ratios; goals <= {GOAL}. "
            "Per-run details: `odeint_t<threads>_<run>.md`.\n",
            H.markdown_table(["measure"] + columns, rows),
            "\n" + "\n".join(loads),
        ]
    )


def summary_rows(results_dir) -> list[list[str]]:
    """README goal rows: [measure, goal, figures per run ("t1 a: 0.61, ..."), status].

    Status is "met" when every run's median meets the goal, "missed" when none
    does, else "mixed". Empty when no run file exists.
    """
    runs = load_runs(Path(results_dir))
    if not runs:
        return []
    per_measure: dict[str, list[tuple[str, float]]] = {}
    for col, rec in runs.items():
        for measure, r, _, _ in goal_rows(rec["results"]):
            per_measure.setdefault(measure, []).append((col, r["median"]))
    out = []
    for measure, figs in per_measure.items():
        met = [v <= GOAL for _, v in figs]
        status = "met" if all(met) else "missed" if not any(met) else "mixed"
        text = ", ".join(f"{c}: {v:.2f}" for c, v in figs)
        out.append([f"ODE layer {measure} / torchdiffeq", f"<= {GOAL}", text, status])
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=H.RESULTS_DIR)
    args = parser.parse_args(argv)
    runs = load_runs(args.results)
    if not runs:
        print(f"no odeint_t*.json in {args.results}", file=sys.stderr)
        return 1
    path = args.results / "odeint.md"
    path.write_text(combined_markdown(runs) + "\n")
    print(f"wrote {path} ({', '.join(runs)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
