"""The ODE layer against torchdiffeq 0.2.5 on Chen et al.'s ODE-Net dynamics (CPU).

Problem: torchdiffeq's ``examples/odenet_mnist.py`` ODEfunc (GroupNorm -> ReLU ->
ConcatConv 3x3 -> GroupNorm -> ReLU -> ConcatConv 3x3 -> GroupNorm, 64 channels) on
18x18 feature maps, batch 32, float32, integrated over t in [0, 1]; dopri5 with
rtol = atol = 1e-3. Both sides start from the same weights (copied from PyTorch
into Keras, NCHW -> NHWC) and the same state; the dynamics are checked to agree
to 1e-5 before anything is timed.

Measured, interleaved in one run (ratios = ours / theirs, median of per-round ratios):

1. one dynamics evaluation (and its vector-Jacobian product): what a solver step costs
   on each side before any solver is involved;
2. forward solve: ODEBlock / ``torchdiffeq.odeint`` (goal <= 1.0), with plain TFP
   ``DormandPrince`` (no odelayers) and ``odelayers.odeint`` beside it;
3. forward + backward with the adjoint: ODEBlock(gradient="adjoint") /
   ``torchdiffeq.odeint_adjoint`` (goal <= 1.0);
4. the fastest training step (forward + backward) each library offers among solvers
   reaching the same final-state error against a tight reference (float64 dopri5,
   rtol = atol = 1e-8): ours / theirs (goal <= 0.8).

NFE is counted by the dynamics themselves on both sides (a counter incremented in
every evaluation), so the counts include the first-step selection.

Run: ``python benchmarks/bench_odeint.py`` (about 7 minutes with the default one thread);
``--reps`` for more repetitions, ``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import statistics
import sys

import _harness as H
from _odeint_problem import (
    ATOL,
    REF_TOL,
    RTOL,
    Problem,
    bar_errors,
    block_for,
    block_forward,
    block_train,
    fewest_steps,
    odeint_forward,
    tf_nfe,
    tfp_plain_forward,
    tfp_plain_train,
    torch_forward,
    torch_train_step,
)
from _odeint_report import render_markdown


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    H.add_common_arguments(parser)
    parser.add_argument("--quick", action="store_true", help="2 repetitions, for a smoke run")
    parser.add_argument(
        "--adjoint-reps",
        type=int,
        default=None,
        help="repetitions of the (slow) adjoint steps (default 3, quick 1)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="also time plain TFP's adjoint, and repeat every fastest-step candidate (no pruning)",
    )
    parser.add_argument(
        "--norm",
        choices=("fast", "keras"),
        default="fast",
        help="group norm of the Keras dynamics used for the headline ratios: "
        "'fast' (same cost as PyTorch's, default) or Keras' "
        "GroupNormalization (both are measured for the forward solve)",
    )
    args = parser.parse_args(argv)
    if args.reps is None:
        args.reps = 2 if args.quick else 5
    if args.adjoint_reps is None:
        args.adjoint_reps = 1 if args.quick else 3
    return args


# ---------------------------------------------------------------------- sections
def section_dynamics(p: Problem, args) -> dict:
    """One evaluation and one vector-Jacobian product of the dynamics, each side."""
    import tensorflow as tf
    import torch

    t_half = torch.tensor(0.5)

    def torch_eval():
        with torch.no_grad():
            return p.torch_func(t_half, p.y0_t)

    y_req = p.y0_t.clone().requires_grad_(True)

    def torch_vjp():
        out = p.torch_func(t_half, y_req)
        return torch.autograd.grad(out, [y_req] + list(p.torch_func.parameters()), p.cot_t)

    def tf_eval_fn(dyn):
        return tf.function(lambda y: dyn(y, t=0.5))

    def tf_vjp_fn(dyn):
        @tf.function
        def vjp(y):
            with tf.GradientTape() as tape:
                tape.watch(y)
                out = dyn(y, t=0.5)
            return tape.gradient(out, [y] + dyn.trainable_variables, output_gradients=p.cot_tf)

        return vjp

    cands = {
        "torch eval": torch_eval,
        "keras fast-GN eval": _np(tf_eval_fn(p.keras_dyn["fast"]), p.y0_tf),
        "keras GroupNormalization eval": _np(tf_eval_fn(p.keras_dyn["keras"]), p.y0_tf),
        "torch vjp": torch_vjp,
        "keras fast-GN vjp": _np(tf_vjp_fn(p.keras_dyn["fast"]), p.y0_tf),
        "keras GroupNormalization vjp": _np(tf_vjp_fn(p.keras_dyn["keras"]), p.y0_tf),
    }
    times = H.interleaved(cands, reps=max(10, 4 * args.reps), warmup=3)
    out = {name: H.summarize(v) for name, v in times.items()}
    out["ratios"] = {
        "eval, fast GN / torch": H.paired_ratio(times, "keras fast-GN eval", "torch eval"),
        "eval, Keras GN / torch": H.paired_ratio(
            times, "keras GroupNormalization eval", "torch eval"
        ),
        "vjp, fast GN / torch": H.paired_ratio(times, "keras fast-GN vjp", "torch vjp"),
        "vjp, Keras GN / torch": H.paired_ratio(times, "keras GroupNormalization vjp", "torch vjp"),
    }
    return out


def _np(fn, *args):
    """A zero-argument call that forces the result to host memory (synchronises)."""
    import tensorflow as tf

    def call():
        return tf.nest.map_structure(lambda x: x.numpy(), fn(*args))

    return call


def section_forward(p: Problem, args) -> dict:
    ours = f"ODEBlock ({p.norm} GN)"
    other_norm = "keras" if p.norm == "fast" else "fast"
    blocks = {n: block_for(p, n, method="dopri5", rtol=RTOL, atol=ATOL) for n in ("fast", "keras")}
    fns = {
        "torchdiffeq odeint": lambda: torch_forward(p)[0],
        ours: _np(block_forward(blocks[p.norm]), p.y0_tf),
        f"ODEBlock ({other_norm} GN)": _np(block_forward(blocks[other_norm]), p.y0_tf),
        "odelayers.odeint (fast GN)": _np(
            odeint_forward(p, method="dopri5", rtol=RTOL, atol=ATOL), p.y0_tf
        ),
        "plain TFP DormandPrince (fast GN)": _np(tfp_plain_forward(p), p.y0_tf),
    }
    finals, nfe = {}, {}
    for name, fn in fns.items():  # first call: traces, counts the NFE, gives the final state
        if name.startswith("torch"):
            finals[name], nfe[name] = torch_forward(p)
        else:
            finals[name], nfe[name] = tf_nfe(p, fn)
    assert blocks[p.norm].nfe == nfe[ours], (blocks[p.norm].nfe, nfe[ours])
    times = H.interleaved(fns, reps=args.reps, warmup=0)
    rows = {}
    for name in fns:
        layout = "nchw" if name.startswith("torch") else "nhwc"
        rows[name] = {
            **H.summarize(times[name]),
            "nfe": nfe[name],
            "error": p.error(finals[name], layout),
            "ratio_to_torchdiffeq": H.paired_ratio(times, name, "torchdiffeq odeint"),
        }
    return {
        "rows": rows,
        "headline": rows[ours]["ratio_to_torchdiffeq"]["median"],
        "headline_name": ours,
        "layer_overhead_vs_plain_tfp": H.paired_ratio(
            times, "odelayers.odeint (fast GN)", "plain TFP DormandPrince (fast GN)"
        ),
        "block_over_odeint": H.paired_ratio(
            times, "ODEBlock (fast GN)", "odelayers.odeint (fast GN)"
        ),
        "error_torchdiffeq": rows["torchdiffeq odeint"]["error"],
        "error_ours": rows[ours]["error"],
    }


def _grad_agreement(torch_grads, tf_grads) -> float:
    """Largest relative L2 difference between matching gradients (y0 and each weight)."""
    import _odenet as O
    import numpy as np

    worst = 0.0
    for i, (g_t, g_f) in enumerate(zip(torch_grads, tf_grads)):
        g_t = g_t.numpy()
        if i == 0:
            g_t = O.to_nhwc(g_t)
        elif g_t.ndim == 4:
            g_t = np.transpose(g_t, (2, 3, 1, 0))
        g_f = np.asarray(g_f)
        worst = max(worst, float(np.linalg.norm(g_f - g_t) / np.linalg.norm(g_t)))
    return worst


def _first_call_nfe(p: Problem, name: str, step, block=None) -> dict:
    """Call a training step once (this traces TF code) and count its evaluations."""
    if name.startswith("torch"):
        result = step()
        return {
            "nfe_forward": result["nfe_forward"],
            "nfe_backward": result["nfe_backward"],
            "grads": result["grads"],
        }
    grads, total = tf_nfe(p, step)
    if block is not None:
        forward = block.nfe
    else:  # plain TFP: count a forward solve alone
        _, forward = tf_nfe(p, _np(tfp_plain_forward(p), p.y0_tf))
    return {"nfe_forward": forward, "nfe_backward": total - forward, "grads": grads}


def section_adjoint(p: Problem, args) -> dict:
    ours = f"ODEBlock adjoint ({p.norm} GN)"
    block = block_for(p, p.norm, method="dopri5", rtol=RTOL, atol=ATOL, gradient="adjoint")
    # odelayers' adjoint uses the seminorm by default; torchdiffeq's default is the
    # full norm, and it offers the seminorm as an option: both are timed.
    steps = {
        "torchdiffeq odeint_adjoint": torch_train_step(p, adjoint=True),
        ours: _np(block_train(p, block), p.y0_tf),
        "torchdiffeq odeint_adjoint (seminorm)": torch_train_step(p, adjoint=True, seminorm=True),
    }
    blocks = {ours: block}
    if args.full:
        steps["plain TFP adjoint (fast GN)"] = _np(tfp_plain_train(p), p.y0_tf)
    first = {name: _first_call_nfe(p, name, step, blocks.get(name)) for name, step in steps.items()}
    times = H.interleaved(steps, reps=args.adjoint_reps, warmup=0)
    rows = {
        name: {
            **H.summarize(times[name]),
            "nfe_forward": first[name]["nfe_forward"],
            "nfe_backward": first[name]["nfe_backward"],
            "ratio_to_torchdiffeq": H.paired_ratio(times, name, "torchdiffeq odeint_adjoint"),
        }
        for name in steps
    }
    return {
        "rows": rows,
        "headline": rows[ours]["ratio_to_torchdiffeq"]["median"],
        "headline_name": ours,
        "ratio_to_torchdiffeq_seminorm": H.paired_ratio(
            times, ours, "torchdiffeq odeint_adjoint (seminorm)"
        )["median"],
        "gradient_max_relative_difference_vs_torchdiffeq": _grad_agreement(
            first["torchdiffeq odeint_adjoint"]["grads"], first[ours]["grads"]
        ),
    }


def _nfe_pair(result: dict) -> dict:
    return {"nfe_forward": result["nfe_forward"], "nfe_backward": result["nfe_backward"]}


def _fastest_candidates(p: Problem, bar: float) -> tuple[dict, dict, dict]:
    """Training steps of each library's solvers at the fewest steps reaching ``bar``.

    Returns ``(candidates, meta, blocks)``: name -> step function, name -> what
    it is (side, method, steps, error), name -> our ODEBlock (for its NFE).
    """
    candidates, meta, blocks = {}, {}, {}
    # Ours.
    block = block_for(p, p.norm, method="dopri5", rtol=RTOL, atol=ATOL, gradient="backprop")
    candidates["ours dopri5 backprop"] = _np(block_train(p, block), p.y0_tf)
    blocks["ours dopri5 backprop"] = block
    meta["ours dopri5 backprop"] = {
        "side": "ours",
        "method": "dopri5",
        "gradient": "backprop",
        "steps": None,
        "error": bar_errors(p)["ours"],
    }
    # Theirs.
    candidates["torchdiffeq dopri5 odeint (backprop)"] = torch_train_step(p)
    meta["torchdiffeq dopri5 odeint (backprop)"] = {
        "side": "theirs",
        "method": "dopri5",
        "gradient": "backprop",
        "steps": None,
        "error": bar_errors(p)["theirs"],
    }
    for method in ("rk4", "midpoint", "euler"):
        n_t, err_t = fewest_steps(
            lambda n, method=method: p.error(torch_forward(p, method=method, n_steps=n)[0], "nchw"),
            bar,
        )
        n_o, err_o = fewest_steps(
            lambda n, method=method: p.error(
                odeint_forward(p, method=method, num_steps=n)(p.y0_tf), "nhwc"
            ),
            bar,
            start=n_t or 1,
        )
        for side, n, err in (("ours", n_o, err_o), ("theirs", n_t, err_t)):
            if n is None:
                meta[f"{side} {method}"] = {"side": side, "method": method, "reached": False}
                continue
            if side == "ours":
                name = f"ours {method} x{n} backprop"
                block = block_for(p, p.norm, method=method, num_steps=n, gradient="backprop")
                candidates[name] = _np(block_train(p, block), p.y0_tf)
                blocks[name] = block
            else:
                name = f"torchdiffeq {method} x{n} backprop"
                candidates[name] = torch_train_step(p, method=method, n_steps=n)
            meta[name] = {
                "side": side,
                "method": method,
                "gradient": "backprop",
                "steps": n,
                "error": err,
            }
    return candidates, meta, blocks


def section_fastest(p: Problem, args, bar: float, adjoint_rows: dict) -> dict:
    """Every solver of each library that reaches the error bar; fastest training step each.

    The adjoint candidates (an order of magnitude slower than backprop here) are not
    timed again: their times come from the adjoint section. Unless ``--full``, a
    candidate whose second run is over 3x its side's fastest second run is not
    repeated either (it cannot win); its single run is reported.
    """
    import time

    candidates, meta, blocks = _fastest_candidates(p, bar)
    once = {}
    for name, step in candidates.items():
        meta[name].update(
            {
                k: v
                for k, v in _first_call_nfe(p, name, step, blocks.get(name)).items()
                if k != "grads"
            }
        )
        start = time.perf_counter()
        step()
        once[name] = time.perf_counter() - start
    best_once = {
        side: min(t for n, t in once.items() if meta[n]["side"] == side)
        for side in ("ours", "theirs")
    }
    timed = {
        n: c
        for n, c in candidates.items()
        if args.full or once[n] <= 3 * best_once[meta[n]["side"]]
    }
    # Each contender takes well under a second: 3x the repetitions, because the
    # ratio between the two fastest moves by +-0.05 from run to run with 5.
    times = H.interleaved(timed, reps=3 * args.reps, warmup=0)
    rows = {}
    for name, m in meta.items():
        row = dict(m)
        if name in times:
            row.update(H.summarize(times[name]))
        elif name in once:
            row.update({"median_s": once[name], "n": 1, "note": "single run (not a contender)"})
        rows[name] = row
    # The dopri5 adjoint steps, timed in the adjoint section.
    for name, side in (
        (f"ODEBlock adjoint ({p.norm} GN)", "ours"),
        ("torchdiffeq odeint_adjoint", "theirs"),
    ):
        r = adjoint_rows[name]
        rows[f"{'ours' if side == 'ours' else 'torchdiffeq'} dopri5 adjoint"] = {
            "side": side,
            "method": "dopri5",
            "gradient": "adjoint",
            "steps": None,
            "error": bar_errors(p)[side],
            "median_s": r["median_s"],
            "n": r["n"],
            "nfe_forward": r["nfe_forward"],
            "nfe_backward": r["nfe_backward"],
            "note": "timed in the adjoint section",
        }
    med = {name: statistics.median(v) for name, v in times.items()}
    best_ours = min((n for n in times if meta[n]["side"] == "ours"), key=med.get)
    best_theirs = min((n for n in times if meta[n]["side"] == "theirs"), key=med.get)
    return {
        "error_bar": bar,
        "rows": rows,
        "fastest_ours": best_ours,
        "fastest_theirs": best_theirs,
        "headline": H.paired_ratio(times, best_ours, best_theirs)["median"],
        "ratio_of_medians": med[best_ours] / med[best_theirs],
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    threads = H.configure_threads(args.threads, args.inter_op_threads)
    record = H.Record("odeint", args, threads)
    p = Problem(args.norm)
    res = {
        "problem": {
            "batch": 32,
            "size": 18,
            "channels": 64,
            "dtype": "float32",
            "rtol": RTOL,
            "atol": ATOL,
            "t": [0.0, 1.0],
            "reference_tol": REF_TOL,
            "error_metric": "rms(y - ref) / rms(ref)",
            "reps": args.reps,
            "headline_group_norm": args.norm,
        }
    }
    res["equivalence_max_abs_diff"] = p.check_equivalence()
    print("dynamics agree with PyTorch's:", res["equivalence_max_abs_diff"], flush=True)
    p.ref = p.reference()
    res["dynamics"] = section_dynamics(p, args)
    print(
        "dynamics eval ratios:",
        {k: round(v["median"], 3) for k, v in res["dynamics"]["ratios"].items()},
        flush=True,
    )
    res["forward"] = section_forward(p, args)
    print(
        f"forward: {res['forward']['headline_name']} / torchdiffeq.odeint = "
        f"{res['forward']['headline']:.3f} (goal <= 1.0)",
        flush=True,
    )
    res["adjoint"] = section_adjoint(p, args)
    print(
        f"forward + adjoint: {res['adjoint']['headline_name']} / odeint_adjoint = "
        f"{res['adjoint']['headline']:.3f} (goal <= 1.0)",
        flush=True,
    )
    bar = max(res["forward"]["error_torchdiffeq"], res["forward"]["error_ours"])
    res["fastest"] = section_fastest(p, args, bar, res["adjoint"]["rows"])
    print(
        f"fastest training step: {res['fastest']['fastest_ours']} / "
        f"{res['fastest']['fastest_theirs']} = {res['fastest']['headline']:.3f} (goal <= 0.8)",
        flush=True,
    )
    path = record.finish(res, render_markdown(res))
    print(f"wrote {path} and {path.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
