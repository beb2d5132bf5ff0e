"""odelayers.GroupNormalization against keras.layers.GroupNormalization on the ODE-Net's shapes.

Both layers compute the same group norm (same weights, checked equal before
timing); odelayers' takes the statistics from per-channel moments. Timed on
the states of the ODE-Net dynamics, [32, 18, 18, 64] (benchmarks' torchdiffeq
dynamics, the reproduction's state) and [32, 18, 18, 32] (the reproduction's
hidden channels), with 32 groups and float32: the forward pass and the forward
+ backward pass (gradients w.r.t. the input, gamma and beta), each compiled
with ``tf.function``. Every thread count runs in a fresh process (TensorFlow
fixes its thread pools at the first op); inside one, the two layers'
repetitions are interleaved (see ``_harness.interleaved``), each repetition
timing ``--inner`` calls. The figure is Keras' time / ours per round (the
speed-up), median and quartiles.

    python benchmarks/bench_group_norm.py                 # 1 and 2 threads, ~1 min
    python benchmarks/bench_group_norm.py --thread-counts 1 --reps 15
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import _harness as H

SHAPES = ((32, 18, 18, 64), (32, 18, 18, 32))
GROUPS = 32
EPSILON = 1e-3


def _case(shape, mode: str):
    """Both layers' compiled call for ``mode`` ("forward" / "forward+backward") on ``shape``."""
    import keras
    import numpy as np
    import tensorflow as tf

    import odelayers

    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal(shape).astype("float32") * 2.0 + 0.3)
    cotangent = tf.constant(rng.standard_normal(shape).astype("float32"))
    layers = {
        "keras": keras.layers.GroupNormalization(GROUPS, epsilon=EPSILON),
        "odelayers": odelayers.GroupNormalization(GROUPS, epsilon=EPSILON),
    }
    weights = [1.0 + 0.3 * rng.standard_normal(shape[-1]).astype("float32") for _ in range(2)]
    calls = {}
    for name, layer in layers.items():
        layer.build(shape)
        layer.set_weights(weights)
        calls[name] = _compiled(layer, mode, x, cotangent, tf)
    outs = {name: [np.asarray(v) for v in tf.nest.flatten(call())] for name, call in calls.items()}
    diff = max(float(np.abs(a - b).max()) for a, b in zip(outs["keras"], outs["odelayers"]))
    assert diff < 1e-3, f"the layers differ by {diff} ({mode}, {shape})"
    return calls, diff


def _compiled(layer, mode, x, cotangent, tf):
    if mode == "forward":
        fn = tf.function(lambda: layer(x))
    else:

        @tf.function
        def fn():
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(layer(x) * cotangent)
            return tape.gradient(loss, [x, layer.gamma, layer.beta])

    return fn


def _repeat(fn, inner: int):
    def run():
        for _ in range(inner):
            out = fn()
        return out

    return run


def child(args) -> dict:
    """Time every (shape, mode) case on ``args.threads`` threads; return the figures."""
    threads = H.configure_threads(args.threads, args.inter_op_threads, frameworks=("tensorflow",))
    cases = []
    for shape in SHAPES:
        for mode in ("forward", "forward+backward"):
            calls, diff = _case(shape, mode)
            times = H.interleaved(
                {n: _repeat(f, args.inner) for n, f in calls.items()}, args.reps, args.warmup
            )
            per_call = {n: [t / args.inner for t in ts] for n, ts in times.items()}
            cases.append(
                {
                    "shape": list(shape),
                    "mode": mode,
                    "threads": args.threads,
                    "max_abs_difference": diff,
                    "keras": H.summarize(per_call["keras"]),
                    "odelayers": H.summarize(per_call["odelayers"]),
                    "speedup": H.paired_ratio(per_call, "keras", "odelayers"),
                }
            )
    return {"threads": threads, "cases": cases, "load_average": H.load_average()}


def _markdown(runs: list[dict], args) -> str:
    rows = []
    for run in runs:
        for c in run["cases"]:
            k, o, s = c["keras"], c["odelayers"], c["speedup"]
            rows.append(
                [
                    c["threads"],
                    "x".join(map(str, c["shape"])),
                    c["mode"],
                    f"{1e3 * k['median_s']:.2f} [{1e3 * k['q1_s']:.2f}, {1e3 * k['q3_s']:.2f}]",
                    f"{1e3 * o['median_s']:.2f} [{1e3 * o['q1_s']:.2f}, {1e3 * o['q3_s']:.2f}]",
                    f"{s['median']:.2f} [{s['q1']:.2f}, {s['q3']:.2f}]",
                    f"{c['max_abs_difference']:.1e}",
                ]
            )
    table = H.markdown_table(
        [
            "threads",
            "shape",
            "pass",
            "Keras ms [q1, q3]",
            "odelayers ms [q1, q3]",
            "speed-up Keras/ours [q1, q3]",
            "max abs diff",
        ],
        rows,
    )
    return (
        f"`keras.layers.GroupNormalization` vs `odelayers.GroupNormalization`, {GROUPS} "
        f"groups, epsilon {EPSILON}, float32, compiled with `tf.function`; {args.reps} "
        f"interleaved repetitions of {args.inner} calls after {args.warmup} warm-up, per "
        f"thread count in a fresh process (inter-op threads {args.inter_op_threads}). "
        "Times per call, median [quartiles]; the speed-up is the median [quartiles] of "
        "the per-round ratios. Forward+backward: gradients w.r.t. the input, gamma and "
        "beta.\n\n" + table + "\n"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    H.add_common_arguments(parser)
    parser.add_argument("--thread-counts", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--inner", type=int, default=10, help="calls per timed repetition")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.reps = args.reps or 21
    if args.child:
        print(json.dumps(child(args)))
        return
    threads = {"intra_op": ",".join(map(str, args.thread_counts))}
    threads["inter_op"] = args.inter_op_threads
    record = H.Record("group_norm", args, threads)  # the commit and load at the start
    runs = []
    for n in args.thread_counts:
        command = [sys.executable, __file__, "--child", "--threads", str(n)]
        command += ["--reps", str(args.reps), "--warmup", str(args.warmup)]
        command += ["--inner", str(args.inner), "--inter-op-threads", str(args.inter_op_threads)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"{n} thread(s): done", flush=True)
    path = record.finish({"runs": runs}, _markdown(runs, args))
    print((path.with_suffix(".md")).read_text())


if __name__ == "__main__":
    main()
