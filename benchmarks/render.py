"""Render the latest benchmark figures (results/benchmarks/*.json) into the READMEs.

Writes the table of goals and figures (each goal benchmark's ``summary_rows``) between ``<!-- benchmarks:start -->`` and
``<!-- benchmarks:end -->`` in the project README, and between
``<!-- figures:start -->`` and ``<!-- figures:end -->`` (and the measured levers
between ``<!-- levers:start -->`` and ``<!-- levers:end -->``) in ``benchmarks/README.md``.
Nothing else in either file is touched. A benchmark that has not been run shows
as "not run".

Run: ``python benchmarks/render.py`` (no TensorFlow or PyTorch needed).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "results" / "benchmarks"


def _load(name: str, results_dir: Path) -> dict | None:
    path = results_dir / f"{name}.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())


def goal_rows(results_dir: Path = RESULTS) -> list[list[str]]:
    """[measure, goal, figures, status, measured] rows of every goal benchmark that has run.

    Each benchmark's own report module turns its run files into rows.
    """
    import _odeint_combine
    import _resnet_report
    import bench_odenet_step

    rows = []
    for source in (_odeint_combine, _resnet_report, bench_odenet_step):
        for row in source.summary_rows(results_dir):
            measured = row[4] if len(row) > 4 else _measured(results_dir, "odeint_t*_*.json")
            rows.append([row[0], row[1], row[2], row[3], measured])
    return rows


def _measured(results_dir: Path, pattern: str) -> str:
    """Dates, thread settings and loads of the run files matching ``pattern``."""
    records = [json.loads(p.read_text()) for p in sorted(results_dir.glob(pattern))]
    if not records:
        return ""
    dates = sorted({r["date"][:10] for r in records})
    loads = sorted(r["load_average_start"][0] for r in records if r.get("load_average_start"))
    return f"{', '.join(dates)}, load {loads[0]}-{loads[-1]}, {len(records)} runs"


def summary_table(results_dir: Path = RESULTS) -> str:
    """The goals table in markdown: each row's figures are its separate runs side by side."""
    rows = goal_rows(results_dir)
    if not rows:
        return "(no benchmark has run yet)"
    lines = [
        "| measure | goal | figures (run: ratio) | status | measured |",
        "|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def details(results_dir: Path = RESULTS) -> str:
    """Secondary figures worth a line each; what measures odelayers alone says so."""
    import _resnet_report
    import bench_odenet_step

    lines = []
    for row in _resnet_report.summary_rows(results_dir) + bench_odenet_step.summary_rows(
        results_dir
    ):
        lines.append(f"- {row[0]}: {row[5]}.")
    acc = _load("odenet_accuracy", results_dir)
    if acc:
        parts = []
        for r in acc["results"]["rows"]:
            sd = "" if r["sd_pct"] is None else f" ± {r['sd_pct']:.1f}"
            late = [v for v in r.get("late_epochs_mean_pct") or [] if v is not None]
            late_epochs = acc["results"]["late_epochs"]
            late_text = f"; last {late_epochs} epochs {sum(late) / len(late):.1f} %" if late else ""
            parts.append(
                f"{r['group']} ({r['solver'] or 'residual CNN'}) {r['mean_pct']:.1f}{sd} % "
                f"(n={len(r['train_seeds'])}{late_text})"
            )
        lines.append(
            "- Stand-in test accuracy, final epoch, mean ± sd over training seeds ([odenet_accuracy.md]"
            "(results/benchmarks/odenet_accuracy.md)): " + "; ".join(parts) + "."
        )
    lag = _load("bn_lag", results_dir)
    if lag:
        parts = []
        for model, m in lag["results"]["means"].items():
            parts.append(
                f"{model} (n={m['n']}) {100 * m['as_trained']['test']:.1f} % as trained, "
                f"{100 * m['converged_dropout_on']['test']:.1f} % / "
                f"{100 * m['converged_dropout_off']['test']:.1f} % after the moving statistics "
                "converge on the frozen weights with dropout on / off"
            )
        lines.append(
            "- Why the CNNs' test accuracy swings, mean inference-mode test accuracy of the "
            "saved models ([bn_lag.md](results/benchmarks/bn_lag.md)): " + "; ".join(parts) + "."
        )
    mem = _load("memory", results_dir)
    if mem:
        a = mem["results"]["adjoint_tight_over_loose"]
        lines.append(
            f"- odelayers alone, adjoint memory (batch {mem['results'].get('batch', 32)}): peak at "
            f"tol {a['tight']:g} / at tol {a['loose']:g} = {a['ratio']:.2f} "
            f"({mem['date'][:10]}, {mem['machine']['cpu']}, [memory.md](results/benchmarks/memory.md))."
        )
    ov = _load("overhead", results_dir)
    if ov and "headline" in ov["results"]:
        lines.append(
            f"- odelayers alone, solver overhead: solve time / (NFE x one evaluation) = "
            f"{ov['results']['headline']:.2f} ({ov['date'][:10]}, {ov['machine']['cpu']}, "
            "[overhead.md](results/benchmarks/overhead.md))."
        )
    pr = _load("precision", results_dir)
    if pr:
        tight = min(pr["results"]["rows"], key=lambda r: r["tol"])
        lines.append(
            f"- float64 dopri5 on dy/dt = y at rtol = atol = {tight['tol']:g}: error "
            f"{tight['odelayers_error']:.1e} in {tight['odelayers_nfe']} evaluations "
            f"(plain TFP: {tight['tfp_error']:.1e} in {tight['tfp_nfe']}; "
            f"[precision.md](results/benchmarks/precision.md))."
        )
    return "\n".join(lines)


def _fmt(x, spec=".3g"):
    return "" if x is None else (format(x, spec) if isinstance(x, (int, float)) else str(x))


def levers_table(results_dir: Path = RESULTS) -> str:
    """The measured levers (ODE layer and residual CNN) as one markdown table."""
    rows = ["| lever | variant | effect |", "|---|---|---|"]
    lv = _load("ode_levers", results_dir)
    if lv:
        r = lv["results"]
        for group in ("first_step", "error_norm"):
            for variant, v in r.get(group, {}).items():
                rows.append(
                    f"| ODE: {group.replace('_', ' ')} | {variant} | NFE {v['nfe_forward']}, "
                    f"error {_fmt(v['error'], '.2e')}, forward time x"
                    f"{_fmt(v['time_ratio_to_baseline'])} |"
                )
        for variant, v in r.get("adjoint_seminorm", {}).items():
            rows.append(
                f"| ODE: adjoint error norm | {variant} | NFE {v['nfe_forward']} + "
                f"{v['nfe_backward']}, gradient error {_fmt(v.get('gradient_error'), '.1e')}, "
                f"training step time x{_fmt(v['time_ratio_to_baseline'])} |"
            )
        for variant, v in r.get("parallel_iterations", {}).items():
            rows.append(
                f"| ODE: solver while loops | {variant} | peak memory forward "
                f"{v['forward_peak_mib']:.0f} MiB, training step {v['train_peak_mib']:.0f} MiB, "
                f"time x{_fmt(v['time_ratio_to_baseline'])} |"
            )
        for variant, v in r.get("tracing", {}).items():
            if "trace_s_batch32" not in v:
                continue
            rows.append(
                f"| ODE: tracing a dopri5-adjoint training step | {variant} | "
                f"{v['trace_s_batch32']:.1f} s, a second batch shape "
                f"{v['trace_s_batch20']:.1f} s, a third {v['trace_s_batch12']:.1f} s "
                f"({v['traces']} traces) |"
            )
        for variant, v in r.get("xla", {}).items():
            effect = v.get("failed") or f"forward time x{_fmt(v.get('time_ratio_to_baseline'))}"
            rows.append(f"| ODE: compiler | {variant} | {effect} |")
    return "\n".join(rows) if len(rows) > 2 else "(not run yet)"


def block(results_dir: Path = RESULTS) -> str:
    return (
        "Ratios ours / theirs measured side by side in one process (repetitions interleaved, "
        "median of per-round ratios), on CPU with the same thread settings for both; each "
        "setting was run twice, in separate processes (runs a and b), and both are shown. "
        'Rows marked "ours alone" compare two of our own settings. '
        "Generated by `python benchmarks/render.py` from `results/benchmarks/*.json`; "
        "how to run and what each measures: [benchmarks/README.md](benchmarks/README.md).\n\n"
        + summary_table(results_dir)
        + "\n\n"
        + details(results_dir)
    )


def replace_between(text: str, start: str, end: str, body: str) -> str:
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit(f"markers {start} ... {end} not found")
    return pattern.sub(lambda _: f"{start}\n{body}\n{end}", text, count=1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--readme", type=Path, default=REPO_ROOT / "README.md")
    parser.add_argument("--bench-readme", type=Path, default=REPO_ROOT / "benchmarks" / "README.md")
    args = parser.parse_args(argv)
    body = block(args.results)
    args.readme.write_text(
        replace_between(
            args.readme.read_text(), "<!-- benchmarks:start -->", "<!-- benchmarks:end -->", body
        )
    )
    if args.bench_readme.exists():
        bench_body = body.replace("](benchmarks/README.md)", "](README.md)").replace(
            "](results/benchmarks/", "](../results/benchmarks/"
        )
        text = replace_between(
            args.bench_readme.read_text(),
            "<!-- figures:start -->",
            "<!-- figures:end -->",
            bench_body,
        )
        text = replace_between(
            text, "<!-- levers:start -->", "<!-- levers:end -->", levers_table(args.results)
        )
        args.bench_readme.write_text(text)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
