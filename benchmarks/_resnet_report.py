"""The residual-CNN step benchmark's report: one run's markdown, and the runs merged into rows.

``bench_resnet_epoch.py`` writes ``resnet_step_t{threads}_{label}.json`` per run;
:func:`summary_rows` reads every such file in a results folder and returns one table
row per thread setting (runs a, b, ... side by side), for the project's figures.
"""

from __future__ import annotations

from pathlib import Path

import _harness as H

GOAL = 1.0


def _fmt_range(d: dict, scale: float = 1.0, spec: str = ".3f") -> str:
    def f(k):
        return format(d[k] * scale, spec)

    return f"{f('median')} (IQR {f('q1')}-{f('q3')}, range {f('min')}-{f('max')})"


def _time_stats(s: dict) -> dict:
    return {k.removesuffix("_s"): v for k, v in s.items() if k.endswith("_s")}


def summary_line(res: dict) -> str:
    """One line for the terminal: the headline ratio and both sides' per-batch times."""
    pb = res["per_batch"]
    return (
        f"Keras {pb['keras (shipped)']['median_s']:.3f} s/batch, {res['torch_fastest']} "
        f"{pb[res['torch_fastest']]['median_s']:.3f} s/batch: Keras / PyTorch at its fastest "
        f"{res['headline']:.3f} (goal <= {GOAL}, {H.goal_mark(res['headline'], GOAL)})"
    )


def _flops_section(res: dict) -> list[str]:
    fl = res["flops"]
    c, t, peak, mm = fl["count"], fl["torch_flop_counter"], fl["peak"], fl["matmul"]
    lines = [
        "\n### Work per training step and the machine's fp32 ceilings\n",
        f"Counted from the layers (convolutions and dense layers; batch norm, ELU, pooling, "
        f"dropout and the optimizer excluded, at most ~{c['excluded_estimate'] / 1e9:.1f} "
        f"GFLOP): forward {c['forward'] / 1e9:.2f} GFLOP, backward {c['backward'] / 1e9:.2f}, "
        f"total **{c['total'] / 1e9:.2f} GFLOP** per batch of {res['batch']}. PyTorch's "
        f"`FlopCounterMode` on the twin: forward {t['forward'] / 1e9:.2f}, backward "
        f"{t['backward'] / 1e9:.2f}, total {t['total'] / 1e9:.2f} GFLOP "
        f"(ours / its = {fl['count_vs_torch']:.4f}).",
        f"\nTheoretical fp32 peak ({peak['assumptions']}, clock from {fl['clock_source']}; "
        f"CPU flags {', '.join(fl['cpu_has'])}): AVX-512 {peak['avx512'] / 1e9:.1f} GFLOP/s, "
        f"AVX2 {peak['avx2'] / 1e9:.1f} GFLOP/s. Measured matmul ceiling ({mm['n']}x{mm['n']} "
        f"fp32, best of 3, before and after the rounds): PyTorch {mm['torch'] / 1e9:.1f} GFLOP/s, NumPy "
        f"{mm['numpy'] / 1e9:.1f} GFLOP/s.\n",
    ]
    rows = [
        [
            name,
            s["gflops"],
            f"{100 * s['fraction_of_peak_avx512']:.1f} %",
            f"{100 * s['gflops'] * 1e9 / peak['avx2']:.1f} %",
            f"{100 * s['fraction_of_matmul_torch']:.1f} %",
        ]
        for name, s in res["per_batch"].items()
    ]
    header = ["framework", "GFLOP/s", "of AVX-512 peak", "of AVX2 peak", "of matmul ceiling"]
    return lines + [H.markdown_table(header, rows)]


def load_note(res: dict) -> str:
    """A warning when other processes were busy as the run started (empty otherwise)."""
    load = (res.get("load_before") or [0.0])[0]
    if load < 0.5:
        return ""
    return (
        f"\n**Not an idle machine:** load average {load:.2f} on {res.get('logical_cpus')} "
        f"logical CPUs before the run. PyTorch's OpenMP regions wait for their slowest "
        f"thread, so with more than one thread its times (and these ratios) say more about "
        f"the neighbours than about the libraries (benchmarks/README.md).\n"
    )


def render_markdown(res: dict) -> str:
    """The run's markdown body (the provenance header is the harness's)."""
    p, pb = res["parameters"], res["per_batch"]
    fe = res["adam_foreach"]
    lines = [
        f"Keras / PyTorch at its fastest ({res['torch_fastest']}), one training step of the "
        f"report's residual CNN ({p['total']:,} parameters, {p['trainable']:,} trainable, "
        f"equal in both), batch {res['batch']}: **{res['headline']:.3f}** "
        f"(goal <= {GOAL}, {H.goal_mark(res['headline'], GOAL)}).\n",
        f"{res['rounds']} interleaved rounds of {res['batches_per_round']} batch(es) after "
        f"{res['warmup_batches']} warm-up batches each{' (quick smoke run)' if res['quick'] else ''}. "
        f"Keras: the shipped model and compile (`jit_compile` resolved to "
        f"{res['keras_jit_compile']}), `train_on_batch`. PyTorch's Adam: "
        f"foreach={fe['chosen']} (step {fe['foreach=False'] * 1e3:.1f} ms loop vs "
        f"{fe['foreach=True'] * 1e3:.1f} ms foreach). torch.compile: {res['torch_compile']}; "
        f"Keras XLA: {res['xla']}.\n",
        load_note(res),
        H.markdown_table(
            ["candidate", "s / batch: median (IQR, range)", "first batch s"],
            [[k, _fmt_range(_time_stats(s)), f"{s['first_batch_s']:.2f}"] for k, s in pb.items()],
        ),
        "\nPer-round ratios Keras / PyTorch: median (IQR, range)\n",
        H.markdown_table(
            ["Keras", "PyTorch", "ratio"],
            [[k, t, _fmt_range(r)] for k, per in res["ratios"].items() for t, r in per.items()],
        ),
    ]
    return "\n".join(lines + _flops_section(res))


def load_runs(results_dir: Path) -> dict[int, dict[str, dict]]:
    """``{threads: {label: record}}`` for every ``resnet_step_t*_*.json`` in the folder."""
    return H.load_thread_runs(results_dir, "resnet_step")


def summary_rows(results_dir) -> list[list[str]]:
    """One row per thread setting, runs merged: the figures' table for the README.

    Columns: measure, goal, figure (the runs' headline ratios, e.g. "0.95 / 0.97"),
    status (met if every run meets the goal), measured (date, threads, load, runs),
    detail (per-batch times, PyTorch's fastest variant, GFLOP/s and % of the AVX-512
    peak and of the measured matmul ceiling).
    """
    rows = []
    for threads, by_label in sorted(load_runs(results_dir).items()):
        labels = sorted(by_label)
        res = [by_label[k]["results"] for k in labels]
        heads = [r["headline"] for r in res]
        detail = "; ".join(
            f"{k}: Keras {r['per_batch']['keras (shipped)']['median_s']:.2f} s vs "
            f"{r['torch_fastest']} {r['per_batch'][r['torch_fastest']]['median_s']:.2f} s / batch, "
            f"{r['per_batch']['keras (shipped)']['gflops']:.0f} vs "
            f"{r['per_batch'][r['torch_fastest']]['gflops']:.0f} GFLOP/s "
            f"({100 * r['per_batch']['keras (shipped)']['fraction_of_peak_avx512']:.0f} % vs "
            f"{100 * r['per_batch'][r['torch_fastest']]['fraction_of_peak_avx512']:.0f} % of "
            f"AVX-512 peak, {100 * r['per_batch']['keras (shipped)']['fraction_of_matmul_torch']:.0f}"
            f" % vs {100 * r['per_batch'][r['torch_fastest']]['fraction_of_matmul_torch']:.0f} % "
            f"of matmul ceiling)"
            for k, r in zip(labels, res)
        )
        first = by_label[labels[0]]
        load = first.get("load_average_start", [None])[0]
        rows.append(
            [
                f"residual CNN training step, Keras / PyTorch at its fastest, {threads} thread(s)",
                f"<= {GOAL}",
                " / ".join(f"{h:.3f}" for h in heads),
                "met" if all(h <= GOAL for h in heads) else "missed",
                f"{first['date'][:10]}, {threads} thread(s), load {load}, runs "
                f"{', '.join(labels)}" + (" (quick)" if any(r["quick"] for r in res) else ""),
                detail,
            ]
        )
    return rows
