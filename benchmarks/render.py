"""Render the latest benchmark figures (results/benchmarks/*.json) into the READMEs.

Writes the table of goals and figures between ``<!-- benchmarks:start -->`` and
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

# (label, json file, path to the figure inside "results", goal, what "ours / theirs" is)
GOALS = [
    ("ODE layer forward solve / torchdiffeq `odeint`", "odeint", ("forward", "headline"), 1.0),
    (
        "ODE layer forward + adjoint backward / torchdiffeq `odeint_adjoint`",
        "odeint",
        ("adjoint", "headline"),
        1.0,
    ),
    (
        "fastest training step at equal error, ours / torchdiffeq's fastest",
        "odeint",
        ("fastest", "headline"),
        0.8,
    ),
    ("solver overhead: solve time / (NFE x one evaluation)", "overhead", ("headline",), 1.15),
    (
        "adjoint peak memory, tightest tol run / tol 1e-2 (see memory.md)",
        "memory",
        ("headline",),
        1.1,
    ),
    ("residual CNN training step, Keras / PyTorch", "resnet_epoch", ("headline",), 1.0),
]


def _load(name: str, results_dir: Path) -> dict | None:
    path = results_dir / f"{name}.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())


def _dig(data: dict, keys):
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def summary_table(results_dir: Path = RESULTS) -> str:
    """The goals table in markdown, with each figure's date, threads and load.

    Figures from ``<results>/threads2/`` (the same benchmarks run with ``--threads 2
    --out results/benchmarks/threads2``), when present, get a column of their own.
    """
    second = results_dir / "threads2"
    has_second = any(second.glob("*.json")) if second.exists() else False
    header = "| measure | goal | figure | status | measured |"
    if has_second:
        header += " 2 threads | status |"
    rows = [header, "|" + "---|" * (header.count("|") - 1)]
    for label, name, keys, goal in GOALS:
        data = _load(name, results_dir)
        value = _dig(data, ("results",) + keys) if data else None
        if value is None:
            row = f"| {label} | <= {goal} | not run | | |"
        else:
            threads = data.get("threads", {})
            when = (
                f"{data['date'][:10]}, {threads.get('intra_op')} thread(s), "
                f"load {(data.get('load_average_start') or ['?'])[0]}"
            )
            row = f"| {label} | <= {goal} | {value:.3f} | {_status(value, goal)} | {when} |"
        if has_second:
            data2 = _load(name, second)
            value2 = _dig(data2, ("results",) + keys) if data2 else None
            row += (
                f" {value2:.3f} | {_status(value2, goal)} |"
                if value2 is not None
                else " not run | |"
            )
        rows.append(row)
    return "\n".join(rows)


def _status(value: float, goal: float) -> str:
    return "met" if value <= goal else "missed"


def details(results_dir: Path = RESULTS) -> str:
    """Secondary figures worth a line each (NFE, absolute times, memory)."""
    lines = []
    od = _load("odeint", results_dir)
    if od:
        r = od["results"]
        fwd = r["forward"]["rows"]
        t_name = "torchdiffeq odeint"
        ours = r["forward"]["headline_name"]
        lines.append(
            f"- Forward dopri5 (rtol = atol = 1e-3): {ours} {fwd[ours]['median_s']:.3f} s, "
            f"NFE {fwd[ours]['nfe']}, error {fwd[ours]['error']:.1e}; torchdiffeq "
            f"{fwd[t_name]['median_s']:.3f} s, NFE {fwd[t_name]['nfe']}, error "
            f"{fwd[t_name]['error']:.1e}."
        )
        fast = r["fastest"]
        lines.append(
            f"- Fastest training step at relative error <= {fast['error_bar']:.1e}: "
            f"{fast['fastest_ours']} vs {fast['fastest_theirs']}."
        )
    mem = _load("memory", results_dir)
    if mem:
        m = mem["results"]
        a = m["adjoint_tight_over_loose"]
        text = (
            f"- Adjoint memory (batch {m.get('batch', 32)}): NFE {a['nfe_loose']}"
            f"+{a.get('nfe_backward_loose', '?')} -> {a['nfe_tight']}"
            f"+{a.get('nfe_backward_tight', '?')} (forward+backward) from tol {a['loose']:g} "
            f"to {a['tight']:g}, peak ratio {a['ratio']:.2f}"
        )
        if m.get("shipped_adjoint_peak_spread_mib"):
            lo, hi = m["shipped_adjoint_peak_spread_mib"]
            text += f" (peaks {lo:.0f}-{hi:.0f} MiB across tolerances)"
        if m.get("parallel_iterations_10"):
            p10 = m["parallel_iterations_10"]
            lo, hi = p10["peak_spread_mib"]
            text += (
                f"; with the loops at TensorFlow's default parallel_iterations=10 the peaks "
                f"scatter {lo:.0f}-{hi:.0f} MiB (ratio {p10['ratio']:.2f})"
            )
        if m.get("rk4_backprop_linear_fit"):
            text += (
                f"; backprop through rk4 grows {m['rk4_backprop_linear_fit']['mib_per_step']:.0f}"
                f" MiB per step"
            )
        lines.append(text + " ([plot](results/benchmarks/memory.png)).")
    pr = _load("precision", results_dir)
    if pr:
        tight = min(pr["results"]["rows"], key=lambda r: r["tol"])
        lines.append(
            f"- float64 dopri5 on dy/dt = y at rtol = atol = {tight['tol']:g}: error "
            f"{tight['odelayers_error']:.1e} in {tight['odelayers_nfe']} evaluations "
            f"(plain TFP: {tight['tfp_error']:.1e} in {tight['tfp_nfe']}; "
            f"[precision.md](results/benchmarks/precision.md))."
        )
    rn = _load("resnet_epoch", results_dir)
    if rn:
        r = rn["results"]
        k, t = r["steady"]["keras default"], r["steady"]["torch"]
        text = (
            f"- Residual CNN: {k['per_batch_s']:.2f} s / batch (Keras) vs {t['per_batch_s']:.2f} s "
            f"(PyTorch), epoch extrapolated {k['epoch_extrapolated_s']:.0f} s vs "
            f"{t['epoch_extrapolated_s']:.0f} s"
        )
        if "full_epoch" in r:
            fe = r["full_epoch"]
            text += f"; one full epoch {fe['keras default']:.0f} s vs {fe['torch']:.0f} s"
        lines.append(text + ".")
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
    rn = _load("resnet_epoch", results_dir)
    if rn and "levers" in rn["results"]:
        base = rn["results"]["steady"]["keras default"]
        rows.append(
            f"| CNN: baseline | `model.fit` on numpy arrays | {base['per_batch_s']:.2f} s / batch, "
            f"Keras / PyTorch {base['ratio_to_torch']['median']:.3f} |"
        )
        names = {
            "keras default": "same settings, second model instance",
            "keras spe8": "`steps_per_execution=8`",
            "keras xla": "`jit_compile=True` (XLA)",
            "keras tf.data": "`tf.data` shuffle/batch/prefetch(AUTOTUNE)",
        }
        for variant, v in rn["results"]["levers"].items():
            if "error" in v:
                rows.append(f"| CNN | {variant} | failed: {v['error']} |")
                continue
            rows.append(
                f"| CNN | {names.get(variant, variant)} | {v['per_batch_s']:.2f} s / batch, "
                f"Keras / PyTorch {v['ratio_to_torch']['median']:.3f} |"
            )
    return "\n".join(rows) if len(rows) > 2 else "(not run yet)"


def block(results_dir: Path = RESULTS) -> str:
    return (
        "Ratios ours / theirs measured side by side in one process (repetitions interleaved, "
        "median of per-round ratios), on CPU with the same thread settings for both. "
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
