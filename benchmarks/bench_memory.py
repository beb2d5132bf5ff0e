"""Peak memory of a training step: the adjoint stays flat, backpropagation grows with the steps.

A training step is forward + backward (loss = <h(1), fixed cotangent>, gradients
w.r.t. the initial state and all weights) through an ``ODEBlock`` on Chen et al.'s
ODE-Net dynamics (18x18x64, batch 32, float32; see ``bench_odeint.py``).

* dopri5 with ``gradient="adjoint"`` at rtol = atol from 1e-2 to 1e-6: NFE grows,
  peak memory should not (goal: peak at 1e-6 <= 1.1 x peak at 1e-2);
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

Run: ``python benchmarks/bench_memory.py`` (about 3-4 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import _harness as H

TOLERANCES = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
BACKPROP_TOLERANCES = (1e-2, 1e-3, 1e-4)  # tighter ones keep gigabytes alive
RK4_STEPS = (1, 2, 4, 8)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    H.add_common_arguments(parser)
    parser.add_argument("--rk4-steps", type=int, nargs="+", default=list(RK4_STEPS),
                        help="step counts for rk4 with backprop (default 1 2 4 8; 16 needs ~2 GB)")
    parser.add_argument("--tolerances", type=float, nargs="+", default=list(TOLERANCES),
                        help="rtol = atol values for dopri5 (default 1e-2 ... 1e-6)")
    parser.add_argument("--no-dopri5-backprop", action="store_true",
                        help="skip backprop through dopri5 (the slowest contrast)")
    parser.add_argument("--norm", choices=("fast", "keras"), default="fast")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    return args


def child(config: dict, args) -> dict:
    """Measure one configuration in this (fresh) process; return the figures."""
    import resource

    H.configure_threads(args.threads, args.inter_op_threads, frameworks=("tensorflow",))
    import numpy as np
    import tensorflow as tf

    import _odenet as O
    import odelayers

    torch_free_weights = _weights_without_torch()
    rng = np.random.default_rng(1)
    y0 = tf.constant(rng.standard_normal((O.BATCH, O.SIZE, O.SIZE, O.CHANNELS)).astype(np.float32))
    cot = tf.constant(rng.standard_normal(y0.shape).astype(np.float32))
    dyn = O.keras_dynamics(torch_free_weights, norm=config["norm"])
    options = {"method": config["method"], "gradient": config["gradient"]}
    if config["method"] == "dopri5":
        options.update(rtol=config["tol"], atol=config["tol"])
    else:
        options.update(num_steps=config["steps"])
    block = odelayers.ODEBlock(dyn, **options)
    block.build(y0.shape)

    @tf.function
    def step(y):
        with tf.GradientTape() as tape:
            tape.watch(y)
            loss = tf.reduce_sum(block(y, training=True) * cot)
        grads = tape.gradient(loss, [y] + block.trainable_variables)
        return loss, tf.add_n([tf.reduce_sum(g) for g in grads])

    step.get_concrete_function(y0)  # trace only: nothing executed yet
    device = "CPU:0"
    tf.config.experimental.reset_memory_stats(device)
    before = tf.config.experimental.get_memory_info(device)["current"]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = step(y0)
    _ = [x.numpy() for x in out]
    peak = tf.config.experimental.get_memory_info(device)["peak"]
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    nfe_forward = block.nfe
    return {**config, "nfe_forward": nfe_forward,
            "tf_peak_mib": (peak - before) / 2**20,
            "rss_delta_mib": (rss_after - rss_before) / 1024,
            "state_mib": int(np.prod(y0.shape)) * 4 / 2**20}


def _weights_without_torch() -> dict:
    """Random weights in the TF layout (the memory figures do not depend on PyTorch)."""
    import numpy as np

    rng = np.random.default_rng(0)
    c = 64
    w = {}
    for i in (1, 2):
        w[f"conv{i}/kernel"] = (rng.standard_normal((3, 3, c + 1, c)) * (2 / (9 * c)) ** 0.5
                                ).astype(np.float32)
        w[f"conv{i}/bias"] = np.zeros(c, np.float32)
    for i in (1, 2, 3):
        w[f"norm{i}/gamma"] = np.ones(c, np.float32)
        w[f"norm{i}/beta"] = np.zeros(c, np.float32)
    return w


def run_child(config: dict, args) -> dict:
    cmd = [sys.executable, __file__, "--child", json.dumps(config), "--threads", str(args.threads),
           "--inter-op-threads", str(args.inter_op_threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return {**config, "error": proc.stderr.strip().splitlines()[-1:]}
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
        series.setdefault(label, []).append(r)
    for label, rs in series.items():
        rs = sorted(rs, key=lambda r: r["nfe_forward"])
        ax.plot([r["nfe_forward"] for r in rs], [r["tf_peak_mib"] for r in rs], "o-", label=label)
    ax.set_xlabel("forward NFE (more steps / tighter tolerance)")
    ax.set_ylabel("peak memory of a training step (MiB)")
    ax.set_title("ODE-Net block, 18x18x64, batch 32: adjoint vs backprop")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child), args)))
        return 0
    threads = {"intra_op": args.threads, "inter_op": args.inter_op_threads,
               "note": "TensorFlow only, one fresh subprocess per configuration"}
    record = H.Record("memory", args, threads)
    configs = [{"method": "dopri5", "gradient": "adjoint", "tol": tol, "steps": None,
                "norm": args.norm} for tol in args.tolerances]
    configs += [{"method": "rk4", "gradient": "backprop", "tol": None, "steps": n,
                 "norm": args.norm} for n in args.rk4_steps]
    if not args.no_dopri5_backprop:
        configs += [{"method": "dopri5", "gradient": "backprop", "tol": tol, "steps": None,
                     "norm": args.norm} for tol in args.tolerances if tol >= min(BACKPROP_TOLERANCES)]
    rows = []
    for config in configs:
        row = run_child(config, args)
        rows.append(row)
        print(json.dumps(row), flush=True)
    adj = {r["tol"]: r for r in rows if r["gradient"] == "adjoint" and "error" not in r}
    loose, tight = max(adj), min(adj)
    ratio = adj[tight]["tf_peak_mib"] / adj[loose]["tf_peak_mib"]
    rk = sorted((r for r in rows if r["method"] == "rk4" and "error" not in r),
                key=lambda r: r["steps"])
    per_step = None
    if len(rk) >= 2:
        import numpy as np

        slope, intercept = np.polyfit([r["steps"] for r in rk], [r["tf_peak_mib"] for r in rk], 1)
        per_step = {"mib_per_step": float(slope), "intercept_mib": float(intercept)}
    res = {"rows": rows, "goal": 1.1,
           "headline": ratio, "adjoint_tight_over_loose": {"tight": tight, "loose": loose,
                                                           "ratio": ratio,
                                                           "nfe_loose": adj[loose]["nfe_forward"],
                                                           "nfe_tight": adj[tight]["nfe_forward"]},
           "rk4_backprop_linear_fit": per_step,
           "method": "TensorFlow CPU allocator peak (get_memory_info) per fresh subprocess; "
                     "ru_maxrss delta as cross-check"}
    args.out.mkdir(parents=True, exist_ok=True)
    plot(rows, args.out / "memory.png")
    print(f"adjoint peak memory at tol {tight:g} / at {loose:g}: {ratio:.3f} (goal <= 1.1), "
          f"NFE {adj[loose]['nfe_forward']} -> {adj[tight]['nfe_forward']}")
    md = (f"Adjoint peak memory at rtol = atol = {tight:g} over {loose:g}: **{ratio:.3f}** "
          f"(goal <= 1.1, {H.goal_mark(ratio, 1.1)}), while forward NFE goes "
          f"{adj[loose]['nfe_forward']} -> {adj[tight]['nfe_forward']}.")
    if per_step:
        md += (f" Backprop through rk4 grows by {per_step['mib_per_step']:.0f} MiB per step "
               f"(linear fit).")
    md += "\n\n![peak memory vs NFE](memory.png)\n\n" + H.markdown_table(
        ["method", "gradient", "tol", "steps", "NFE fwd", "TF peak MiB", "RSS delta MiB"],
        [[r["method"], r["gradient"], r["tol"], r["steps"], r.get("nfe_forward"),
          r.get("tf_peak_mib"), r.get("rss_delta_mib")] for r in rows])
    path = record.finish(res, md)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
