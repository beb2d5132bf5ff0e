"""The ODE-Net's training step against the residual CNN's it replaces (ours alone, CPU).

Both models are what ``python -m reproduce`` trains: ``reproduce.models.build_resnet()``
and ``reproduce.models.build_odenet()`` with the shipped settings (the report's
semantics, Adam, the same stem, top stack and head). One batch of 32 stand-in
images, ``model.train_on_batch`` on each, interleaved (A B, B A, ...) so that load
changes hit all alike; the ratio is the median of per-round ratios ODE-Net /
residual CNN (goal <= 1.0), with its quartiles.

Beside the shipped ODE-Net, the levers that decide its cost are timed in the same
rounds (rows labelled "lever"): the adaptive dopri5 with the adjoint at rtol =
atol = 1e-3 (the setting before this benchmark), looser tolerances, backprop
through dopri5, and fixed-step rk4 / midpoint with the adjoint or backprop. The
NFE of each row is read from the model's ``nfe`` metric after the timed steps.

Why the fixed-step rows are cheaper: the dynamics (two 3x3 convolutions, 64 -> 32
-> 64 channels on 18x18 maps) costs about 12 M multiply-adds per image and
evaluation, the two residual blocks it replaces about 265 M; dopri5 evaluates it
20-26 times forward and the adjoint about as many vector-Jacobian products
backward (each ~2-3 evaluations), rk4 with 2 steps 8 times forward and backprop
through them once.

Run: ``python benchmarks/bench_odenet_step.py --threads 2 --run-label a`` (about 6
minutes at 12 repetitions); ``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import sys

import _harness as H

#: name -> (solver options replacing the shipped ones, whether it is the shipped model)
LEVERS: dict[str, dict] = {
    "dopri5 1e-3 adjoint": dict(method="dopri5", rtol=1e-3, atol=1e-3, gradient="adjoint"),
    "dopri5 1e-2 adjoint": dict(method="dopri5", rtol=1e-2, atol=1e-2, gradient="adjoint"),
    "dopri5 1e-3 backprop": dict(method="dopri5", rtol=1e-3, atol=1e-3, gradient="backprop"),
    "rk4 h=0.5 adjoint": dict(method="rk4", step_size=0.5, gradient="adjoint"),
    "rk4 h=0.5 backprop": dict(method="rk4", step_size=0.5, gradient="backprop"),
    "rk4 h=0.25 backprop": dict(method="rk4", step_size=0.25, gradient="backprop"),
    "midpoint h=0.5 backprop": dict(method="midpoint", step_size=0.5, gradient="backprop"),
}
RESNET = "residual CNN"
SHIPPED = "ODE-Net (shipped)"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    H.add_common_arguments(parser)
    parser.add_argument("--quick", action="store_true", help="3 repetitions, for a smoke run")
    parser.add_argument(
        "--run-label", default="a", help="label of this run in the file name (a, b, ...)"
    )
    parser.add_argument(
        "--no-levers", action="store_true", help="time only the shipped ODE-Net and the CNN"
    )
    args = parser.parse_args(argv)
    if args.reps is None:
        args.reps = 3 if args.quick else 12
    args.warmup = max(args.warmup, 2)
    return args


def batch(n: int = 32):
    """The first ``n`` training images of R's split of the stand-in data, as the scripts prepare them."""
    import numpy as np

    from reproduce import data, preprocess

    frame, source = data.resolve_data(None)
    x, y = preprocess.resnet_inputs(frame)
    nums, _ = preprocess.report_split(len(x))
    idx = nums[:n]
    return np.asarray(x[idx], "float32"), np.asarray(y[idx], "float32"), source


def build_models(levers: bool) -> dict:
    """The residual CNN, the shipped ODE-Net and (``levers``) its variants, seeded alike."""
    import keras

    from reproduce import models, settings

    built = {}
    for name, options in [(RESNET, None), (SHIPPED, {})] + (list(LEVERS.items()) if levers else []):
        keras.utils.set_random_seed(1)
        if options is None:
            built[name] = models.build_resnet()
            continue
        solver = settings.ODENET_SOLVER
        if options:
            import dataclasses

            # A lever names its own method and step or tolerances; what it leaves out
            # (the step of an adaptive method, say) is reset rather than inherited.
            reset = dict(step_size=None, num_steps=None, rtol=1e-3, atol=1e-3)
            solver = dataclasses.replace(solver, **{**reset, **options})
        built[name] = models.build_odenet(solver)
    return built


def solver_label(model) -> str:
    """The ODE block's options, e.g. ``rk4, step 0.5, backprop`` (empty for the CNN)."""
    try:
        options = model.get_layer("ode_block").options
    except ValueError:
        return ""
    if options.is_fixed_step:
        return f"{options.method}, step {options.step_size or 1 / options.num_steps}, {options.gradient}"
    return f"{options.method}, rtol=atol={options.rtol:g}, {options.gradient}"


def measure(args) -> dict:
    import statistics

    x, y, source = batch()
    built = build_models(levers=not args.no_levers)
    last = {}

    def step(name):
        return lambda: built[name].train_on_batch(x, y, return_dict=True)

    times = H.interleaved(
        {name: step(name) for name in built},
        reps=args.reps,
        warmup=args.warmup,
        on_result=lambda name, out: last.__setitem__(name, out),
    )
    rows = {}
    for name, model in built.items():
        rows[name] = {
            "solver": solver_label(model),
            "time": H.summarize(times[name]),
            "ratio_to_resnet": H.paired_ratio(times, name, RESNET),
            "nfe": float(last[name]["nfe"]) if "nfe" in last[name] else None,
            "lever": name not in (RESNET, SHIPPED),
        }
    return {
        "batch": int(len(x)),
        "data": {"kind": source.kind, "sha256": source.sha256},
        "rows": rows,
        "median_step_s": {k: statistics.median(v) for k, v in times.items()},
    }


def render_markdown(res: dict) -> str:
    header = ["model", "solver", "NFE", "step (ms, median)", "IQR (ms)", "/ residual CNN", "IQR"]
    rows = []
    for name, r in res["rows"].items():
        t, q = r["time"], r["ratio_to_resnet"]
        rows.append(
            [
                name + (" (lever)" if r["lever"] else ""),
                r["solver"],
                "" if r["nfe"] is None else f"{r['nfe']:.0f}",
                f"{1000 * t['median_s']:.0f}",
                f"{1000 * t['q1_s']:.0f}-{1000 * t['q3_s']:.0f}",
                f"{q['median']:.2f}",
                f"{q['q1']:.2f}-{q['q3']:.2f}",
            ]
        )
    shipped = res["rows"][SHIPPED]["ratio_to_resnet"]["median"]
    return (
        f"Training step on one batch of {res['batch']} stand-in images "
        f"(sha256 {res['data']['sha256'][:12]}), `train_on_batch`, medians over "
        f"{res['rows'][RESNET]['time']['n']} interleaved repetitions; ratios are medians of "
        "per-round ratios. Measures our code alone.\n\n"
        + H.markdown_table(header, rows)
        + f"\n\nShipped ODE-Net / residual CNN: **{shipped:.2f}** "
        f"(goal <= 1.0: {H.goal_mark(shipped, 1.0)}).\n"
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    threads = H.configure_threads(args.threads, args.inter_op_threads, frameworks=("tensorflow",))
    record = H.Record(f"odenet_step_t{args.threads}_{args.run_label}", args, threads)
    res = measure(args)
    path = record.finish(res, render_markdown(res))
    print(render_markdown(res))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def summary_rows(results_dir) -> list[list[str]]:
    """README rows, one per thread setting: measure, goal, figure (runs a / b), status, measured, detail."""
    rows = []
    for threads, by_label in sorted(H.load_thread_runs(results_dir, "odenet_step").items()):
        labels = sorted(by_label)
        res = [by_label[k]["results"]["rows"] for k in labels]
        ratios = [r[SHIPPED]["ratio_to_resnet"]["median"] for r in res]
        first = by_label[labels[0]]
        adaptive = [
            r["dopri5 1e-3 adjoint"]["ratio_to_resnet"]["median"]
            for r in res
            if "dopri5 1e-3 adjoint" in r
        ]
        detail = f"shipped: {res[0][SHIPPED]['solver']}, NFE {res[0][SHIPPED]['nfe']:.0f}"
        if adaptive:
            detail += "; the report's dopri5 with the adjoint: " + " / ".join(
                f"{a:.2f}" for a in adaptive
            )
        rows.append(
            [
                f"ODE-Net training step / residual CNN's (ours alone), {threads} thread(s)",
                "<= 1.0",
                " / ".join(f"{r:.2f}" for r in ratios),
                "met" if all(r <= 1.0 for r in ratios) else "missed",
                f"{first['date'][:10]}, load {first['load_average_start'][0]}, runs {', '.join(labels)}",
                detail,
            ]
        )
    return rows
