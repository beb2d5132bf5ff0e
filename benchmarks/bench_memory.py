"""Peak memory of a training step: the adjoint stays flat, backpropagation grows with the steps.

A training step is forward + backward (loss = <h(1), fixed cotangent>, gradients
w.r.t. the initial state and all weights) through an ``ODEBlock`` on Chen et al.'s
ODE-Net dynamics (18x18x64, float32; see ``bench_odeint.py``), batch 4 by default.
Why batch 4 and not 32: every state-sized buffer scales with the batch (the weights
and their gradients are 0.3 MB), so the ratios are the same at a fraction of the
time. ``--batch 32`` runs the full size.

* dopri5 with ``gradient="adjoint"`` (odelayers' defaults: seminorm backward solve,
  solver loops with ``parallel_iterations=1``) at rtol = atol from 1e-2 to 1e-6: NFE
  grows, peak memory should not (goal: peak at 1e-6 <= 1.1 x peak at 1e-2);
* the same with the loops at TensorFlow's default ``parallel_iterations=10`` (the
  solver option ``parallel_iterations``): what the peak was before,
  and how much it scatters from run to run;
* the same with ``adjoint_norm="full"`` (TFP's own error norm over the whole augmented
  state), down to 1e-4 by default: its backward NFE explodes at tighter tolerances;
* for contrast, ``gradient="backprop"`` through rk4 with 1, 2, 4, 8 steps and through
  dopri5 at the same tolerances: memory grows linearly with the evaluations kept for
  the backward pass (dopri5 only down to 1e-4 by default: tighter tolerances keep
  gigabytes of activations alive).

How memory is measured. Each configuration runs in a fresh subprocess: the step is
traced first (``get_concrete_function``, nothing executed), then run once. Two figures:

* ``tf_peak_mib``: TensorFlow's own allocator statistics on the CPU device
  (``tf.config.experimental.get_memory_info("CPU:0")["peak"]`` after
  ``reset_memory_stats``, minus the memory held before the step). Exact for tensors
  TensorFlow allocates, blind to anything else. This is the figure the goal uses.
* ``rss_delta_mib``: growth of the process's peak resident set
  (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) during that first step. Includes
  one-off costs (thread stacks, oneDNN scratch and kernel caches, allocator
  fragmentation) and is coarser; it is recorded as a cross-check of the trend.

Run: ``python benchmarks/bench_memory.py`` (about 10 minutes at batch 4).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import _harness as H

TOLERANCES = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
BACKPROP_TOLERANCES = (1e-2, 1e-3, 1e-4)  # tighter ones keep gigabytes alive
FULL_NORM_TOLERANCES = (1e-2, 1e-3, 1e-4)  # 1e-5: 6,300 backward evaluations, 1e-6: 31,000
RK4_STEPS = (1, 2, 4, 8)
MAX_NUM_STEPS = 100_000


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    H.add_common_arguments(parser)
    parser.add_argument(
        "--rk4-steps",
        type=int,
        nargs="+",
        default=list(RK4_STEPS),
        help="step counts for rk4 with backprop (default 1 2 4 8; 16 needs ~2 GB)",
    )
    parser.add_argument(
        "--tolerances",
        type=float,
        nargs="+",
        default=list(TOLERANCES),
        help="rtol = atol values for dopri5 (default 1e-2 ... 1e-6)",
    )
    parser.add_argument(
        "--no-dopri5-backprop", action="store_true", help="skip backprop through dopri5"
    )
    parser.add_argument(
        "--no-contrast",
        action="store_true",
        help="skip the parallel_iterations=10 and adjoint_norm='full' rows",
    )
    parser.add_argument("--norm", choices=("odelayers", "keras"), default="odelayers")
    parser.add_argument(
        "--batch",
        type=int,
        default=4,
        help="batch size (default 4; ratios do not depend on it, see above)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    return args


def child(config: dict, args) -> dict:
    """Measure one configuration in this (fresh) process; return the figures."""
    H.configure_threads(args.threads, args.inter_op_threads, frameworks=("tensorflow",))
    return _child(config)


def _child(config: dict) -> dict:
    import resource

    import _odenet as O
    import numpy as np
    import tensorflow as tf

    import odelayers

    torch_free_weights = _weights_without_torch()
    rng = np.random.default_rng(1)
    y0 = tf.constant(
        rng.standard_normal((config["batch"], O.SIZE, O.SIZE, O.CHANNELS)).astype(np.float32)
    )
    cot = tf.constant(rng.standard_normal(y0.shape).astype(np.float32))
    counter = tf.Variable(0, dtype=tf.int64, trainable=False)
    dyn = O.keras_dynamics(torch_free_weights, norm=config["norm"], counter=counter)
    options = {"method": config["method"], "gradient": config["gradient"]}
    if config["method"] == "dopri5":
        # Raised from the default 4096 for the full norm's backward solve.
        options.update(rtol=config["tol"], atol=config["tol"], max_num_steps=MAX_NUM_STEPS)
        if config.get("adjoint_norm"):
            options["adjoint_norm"] = config["adjoint_norm"]
    else:
        options.update(num_steps=config["steps"])
    if config.get("parallel_iterations"):
        options["parallel_iterations"] = config["parallel_iterations"]
    block = odelayers.ODEBlock(dyn, **options)
    block.build(y0.shape)
    weights = block.trainable_variables

    def forward(y):
        return block(y, training=True)

    @tf.function
    def step(y):
        with tf.GradientTape() as tape:
            tape.watch(y)
            loss = tf.reduce_sum(forward(y) * cot)
        grads = tape.gradient(loss, [y] + weights)
        return loss, tf.add_n([tf.reduce_sum(g) for g in grads])

    @tf.function
    def forward_only(y):
        return forward(y)

    step.get_concrete_function(y0)  # trace only: nothing executed yet
    device = "CPU:0"
    tf.config.experimental.reset_memory_stats(device)
    before = tf.config.experimental.get_memory_info(device)["current"]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = step(y0)
    _ = [x.numpy() for x in out]
    peak = tf.config.experimental.get_memory_info(device)["peak"]
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    total = int(counter.numpy())
    counter.assign(0)
    forward_only(y0)
    nfe_forward = int(counter.numpy())
    return {
        **config,
        "nfe_forward": nfe_forward,
        "nfe_backward": total - nfe_forward,
        "tf_peak_mib": (peak - before) / 2**20,
        "rss_delta_mib": (rss_after - rss_before) / 1024,
        "state_mib": int(np.prod(y0.shape)) * 4 / 2**20,
    }


def _weights_without_torch() -> dict:
    """Random weights in the TF layout (the memory figures do not depend on PyTorch)."""
    import numpy as np

    rng = np.random.default_rng(0)
    c = 64
    w = {}
    for i in (1, 2):
        w[f"conv{i}/kernel"] = (
            rng.standard_normal((3, 3, c + 1, c)) * (2 / (9 * c)) ** 0.5
        ).astype(np.float32)
        w[f"conv{i}/bias"] = np.zeros(c, np.float32)
    for i in (1, 2, 3):
        w[f"norm{i}/gamma"] = np.ones(c, np.float32)
        w[f"norm{i}/beta"] = np.zeros(c, np.float32)
    return w


def run_child(config: dict, args) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        json.dumps(config),
        "--threads",
        str(args.threads),
        "--inter-op-threads",
        str(args.inter_op_threads),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or ["?"]
        useful = [ln for ln in lines if "odelayers:" in ln] or lines[-1:]
        return {**config, "error": useful[0].strip()[:300]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def plot(rows: list[dict], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    series = {}
    for r in rows:
        if "error" in r:
            continue
        label = f"{r['method']} {r['gradient']}"
        if r.get("adjoint_norm"):
            label += f", adjoint_norm={r['adjoint_norm']}"
        if r.get("parallel_iterations"):
            label += f", parallel_iterations={r['parallel_iterations']}"
        series.setdefault(label, []).append(r)
    for label, rs in series.items():
        rs = sorted(rs, key=lambda r: r["nfe_forward"])
        ax.plot([r["nfe_forward"] for r in rs], [r["tf_peak_mib"] for r in rs], "o-", label=label)
    ax.set_xlabel("forward NFE (more steps / tighter tolerance)")
    ax.set_ylim(bottom=0)
    ax.set_ylabel("peak memory of a training step (MiB)")
    ax.set_title(f"ODE-Net block, 18x18x64, batch {rows[0]['batch']}: adjoint vs backprop")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def configurations(args) -> list:
    """Every configuration to measure, each run in its own subprocess."""
    common = {"norm": args.norm, "batch": args.batch}
    configs = [
        {"method": "dopri5", "gradient": "adjoint", "tol": tol, "steps": None, **common}
        for tol in args.tolerances
    ]
    configs += [
        {"method": "rk4", "gradient": "backprop", "tol": None, "steps": n, **common}
        for n in args.rk4_steps
    ]
    if not args.no_contrast:
        configs += [
            {
                "method": "dopri5",
                "gradient": "adjoint",
                "tol": tol,
                "steps": None,
                "parallel_iterations": 10,
                **common,
            }
            for tol in args.tolerances
        ]
        configs += [
            {
                "method": "dopri5",
                "gradient": "adjoint",
                "tol": tol,
                "steps": None,
                "adjoint_norm": "full",
                **common,
            }
            for tol in args.tolerances
            if tol >= min(FULL_NORM_TOLERANCES)
        ]
    if not args.no_dopri5_backprop:
        configs += [
            {"method": "dopri5", "gradient": "backprop", "tol": tol, "steps": None, **common}
            for tol in args.tolerances
            if tol >= min(BACKPROP_TOLERANCES)
        ]
    return configs


def summarize(rows, args) -> dict:
    """The figures of the record: the adjoint's tight/loose peak ratio and the contrasts."""
    adj = {
        r["tol"]: r
        for r in rows
        if r["method"] == "dopri5"
        and r["gradient"] == "adjoint"
        and not r.get("parallel_iterations")
        and not r.get("adjoint_norm")
        and "error" not in r
    }
    pi10 = {r["tol"]: r for r in rows if r.get("parallel_iterations") == 10 and "error" not in r}
    loose, tight = max(adj), min(adj)
    ratio = adj[tight]["tf_peak_mib"] / adj[loose]["tf_peak_mib"]
    rk = sorted(
        (r for r in rows if r["method"] == "rk4" and "error" not in r), key=lambda r: r["steps"]
    )
    per_step = None
    if len(rk) >= 2:
        import numpy as np

        slope, intercept = np.polyfit([r["steps"] for r in rk], [r["tf_peak_mib"] for r in rk], 1)
        per_step = {"mib_per_step": float(slope), "intercept_mib": float(intercept)}
    return {
        "rows": rows,
        "goal": 1.1,
        "headline": ratio,
        "batch": args.batch,
        "adjoint_tight_over_loose": {
            "tight": tight,
            "loose": loose,
            "ratio": ratio,
            "nfe_loose": adj[loose]["nfe_forward"],
            "nfe_tight": adj[tight]["nfe_forward"],
            "nfe_backward_loose": adj[loose]["nfe_backward"],
            "nfe_backward_tight": adj[tight]["nfe_backward"],
        },
        "rk4_backprop_linear_fit": per_step,
        "shipped_adjoint_peak_spread_mib": [
            min(r["tf_peak_mib"] for r in adj.values()),
            max(r["tf_peak_mib"] for r in adj.values()),
        ],
        "parallel_iterations_10": (
            {
                "tight": min(pi10),
                "loose": max(pi10),
                "ratio": pi10[min(pi10)]["tf_peak_mib"] / pi10[max(pi10)]["tf_peak_mib"],
                "peak_spread_mib": [
                    min(r["tf_peak_mib"] for r in pi10.values()),
                    max(r["tf_peak_mib"] for r in pi10.values()),
                ],
            }
            if len(pi10) >= 2
            else None
        ),
        "method": "TensorFlow CPU allocator peak (get_memory_info) per fresh subprocess; "
        "ru_maxrss delta as cross-check",
    }


def markdown(res, rows, args) -> str:
    """The record's text: the headline, the contrasts and the table of every row."""
    summary = res["adjoint_tight_over_loose"]
    tight, loose, ratio = summary["tight"], summary["loose"], summary["ratio"]
    per_step = res["rk4_backprop_linear_fit"]
    md = (
        f"Batch {args.batch}. Adjoint peak memory at rtol = atol = {tight:g} over {loose:g}: "
        f"**{ratio:.3f}** (goal <= 1.1, {H.goal_mark(ratio, 1.1)}), while NFE goes "
        f"{summary['nfe_loose']} + {summary['nfe_backward_loose']} -> "
        f"{summary['nfe_tight']} + {summary['nfe_backward_tight']} (forward + backward)."
    )
    if per_step:
        md += (
            f" Backprop through rk4 grows by {per_step['mib_per_step']:.0f} MiB per step "
            f"(linear fit)."
        )
    spread = res["shipped_adjoint_peak_spread_mib"]
    md += (
        f" The adjoint's peaks lie between {spread[0]:.0f} and {spread[1]:.0f} MiB across "
        f"all tolerances."
    )
    if res["parallel_iterations_10"]:
        p10 = res["parallel_iterations_10"]
        md += (
            f" With the solver loops at TensorFlow's default parallel_iterations=10 (rows "
            f"marked so), the peaks lie between {p10['peak_spread_mib'][0]:.0f} and "
            f"{p10['peak_spread_mib'][1]:.0f} MiB (tightest over loosest {p10['ratio']:.3f}): "
            f"how many iterations the executor runs ahead, each holding its buffers, "
            f"varies with the run and the number of steps."
        )
    return (
        md
        + "\n\n![peak memory vs NFE](memory.png)\n\n"
        + H.markdown_table(
            [
                "method",
                "gradient",
                "adjoint norm",
                "loops",
                "tol",
                "steps",
                "NFE fwd",
                "NFE bwd",
                "TF peak MiB",
                "RSS delta MiB",
                "error",
            ],
            [
                [
                    r["method"],
                    r["gradient"],
                    (r.get("adjoint_norm") or "seminorm") if r["gradient"] == "adjoint" else "",
                    f"parallel_iterations={r['parallel_iterations']}"
                    if r.get("parallel_iterations")
                    else "",
                    r["tol"],
                    r["steps"],
                    r.get("nfe_forward"),
                    r.get("nfe_backward"),
                    r.get("tf_peak_mib"),
                    r.get("rss_delta_mib"),
                    r.get("error", ""),
                ]
                for r in rows
            ],
        )
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child), args)))
        return 0
    threads = {
        "intra_op": args.threads,
        "inter_op": args.inter_op_threads,
        "note": "TensorFlow only, one fresh subprocess per configuration",
    }
    record = H.Record("memory", args, threads)
    rows = []
    for config in configurations(args):
        row = run_child(config, args)
        rows.append(row)
        print(json.dumps(row), flush=True)
    res = summarize(rows, args)
    args.out.mkdir(parents=True, exist_ok=True)
    plot(rows, args.out / "memory.png")
    summary = res["adjoint_tight_over_loose"]
    print(
        f"adjoint peak memory at tol {summary['tight']:g} / at {summary['loose']:g}: "
        f"{summary['ratio']:.3f} (goal <= 1.1), "
        f"NFE {summary['nfe_loose']}+{summary['nfe_backward_loose']} -> "
        f"{summary['nfe_tight']}+{summary['nfe_backward_tight']}"
    )
    path = record.finish(res, markdown(res, rows, args))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
