"""Solver overhead of the ODE layer: forward solve time / (NFE x one dynamics evaluation).

On Chen et al.'s ODE-Net dynamics at 18x18x64, batch 32, float32 (see
``bench_odeint.py``), dopri5 at rtol = atol = 1e-3 over t in [0, 1]. The goal is
<= 1.15: at most 15 % of a solve spent outside the dynamics (stage combinations,
error norm, step control, dense-output coefficients, loop and dispatch).

The denominator is measured two ways, interleaved with the solve:

* ``chain``: NFE evaluations chained in one compiled function (y <- f(t, y)), i.e.
  the dynamics' own cost with one function call for all of them (the strict measure);
* ``single``: one compiled call of one evaluation (includes one call's dispatch).

For comparison the same ratio is computed for plain TFP (``tfp.math.ode.DormandPrince``)
and for torchdiffeq (whose ``single`` evaluation is a plain module call).

Run: ``python benchmarks/bench_overhead.py`` (about 1-2 minutes).
"""

from __future__ import annotations

import argparse
import sys

import _harness as H

RTOL = ATOL = 1e-3


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    H.add_common_arguments(parser)
    parser.add_argument(
        "--norm",
        choices=("odelayers", "keras"),
        default="odelayers",
        help="group norm inside the Keras dynamics: the shipped odelayers layer (default) "
        "or Keras' own",
    )
    args = parser.parse_args(argv)
    if args.reps is None:
        args.reps = 15  # the ratio moves by +-0.02 between runs with 7
    return args


def tensorflow_candidates(args, weights, y0_np):
    """The TensorFlow solves and chains to time, and the NFE of each solve.

    Returns ``(functions, info)``: callables of the initial state, and the NFE
    of the ODEBlock and of plain TFP, the initial state, and the largest
    difference between the shipped solver and TFP's coefficients after every
    step (``lazy_dense_output=False``).
    """
    import _odenet as O
    import tensorflow as tf
    import tensorflow_probability as tfp

    import odelayers

    y0 = tf.constant(O.to_nhwc(y0_np))
    dyn = O.keras_dynamics(weights, norm=args.norm)
    block = odelayers.ODEBlock(dyn, method="dopri5", rtol=RTOL, atol=ATOL)
    block.build(y0.shape)
    solve = tf.function(lambda y: block(y))
    solve(y0)
    nfe = block.nfe

    def plain_dyn(t, y):
        return dyn(y, t=t)

    def direct(solver):
        @tf.function
        def run(y):
            r = solver.solve(plain_dyn, 0.0, y, solution_times=[1.0])
            return r.states[-1], r.diagnostics.num_ode_fn_evaluations

        return run

    tfp_solve = direct(tfp.math.ode.DormandPrince(rtol=RTOL, atol=ATOL))
    # TFP's count leaves out the initial f(t0, y0).
    tfp_nfe = int(tfp_solve(y0)[1]) + 1

    def chain_of(n):
        @tf.function
        def chain(y):
            for k in range(n):  # unrolled: n evaluations, no loop machinery
                y = dyn(y, t=tf.constant(k / n, tf.float32))
            return y

        return chain

    # The same solve through odelayers' solver class directly, and with TFP's
    # coefficients after every step.
    shipped_direct = direct(odelayers.DormandPrince(rtol=RTOL, atol=ATOL))
    every = direct(odelayers.DormandPrince(rtol=RTOL, atol=ATOL, lazy_dense_output=False))
    y_ship, _ = shipped_direct(y0)
    y_every, _ = every(y0)
    every_max_diff = float(tf.reduce_max(tf.abs(y_ship - y_every)))

    def sync(fn):
        return lambda: tf.nest.map_structure(lambda x: x.numpy(), fn(y0))

    functions = {
        "ODEBlock solve": sync(solve),
        "ODEBlock chain": sync(chain_of(nfe)),
        "plain TFP solve": sync(tfp_solve),
        "plain TFP chain": sync(chain_of(tfp_nfe)),
        "odelayers solver solve": sync(shipped_direct),
        "coefficients every step solve": sync(every),
        "TF single": sync(tf.function(lambda y: dyn(y, t=0.5))),
    }
    return functions, {"nfe": nfe, "tfp_nfe": tfp_nfe, "every_max_diff": every_max_diff}


def torch_candidates(torch_func, y0_np):
    """torchdiffeq's solve, chain and single evaluation, and its NFE."""
    import torch
    from torchdiffeq import odeint as torch_odeint

    y0_t = torch.from_numpy(y0_np)
    torch_func.nfe = 0
    with torch.no_grad():
        torch_odeint(torch_func, y0_t, torch.tensor([0.0, 1.0]), rtol=RTOL, atol=ATOL)
    torch_nfe = torch_func.nfe

    def torch_solve():
        with torch.no_grad():
            return torch_odeint(torch_func, y0_t, torch.tensor([0.0, 1.0]), rtol=RTOL, atol=ATOL)

    def torch_chain():
        y = y0_t
        with torch.no_grad():
            for k in range(torch_nfe):
                y = torch_func(torch.tensor(k / torch_nfe), y)
        return y

    def torch_single():
        with torch.no_grad():
            return torch_func(torch.tensor(0.5), y0_t)

    functions = {
        "torchdiffeq solve": torch_solve,
        "torchdiffeq chain": torch_chain,
        "torch single": torch_single,
    }
    return functions, torch_nfe


def overhead(times, solve_name, chain_name, n, single_name):
    solve_t = H.summarize(times[solve_name])["median_s"]
    return {
        "nfe": n,
        "solve_median_s": solve_t,
        "vs_chain": H.paired_ratio(times, solve_name, chain_name)["median"],
        "vs_single": solve_t / (n * H.summarize(times[single_name])["median_s"]),
        "chain_median_s": H.summarize(times[chain_name])["median_s"],
        "per_eval_in_chain_ms": 1000 * H.summarize(times[chain_name])["median_s"] / n,
        "single_eval_ms": 1000 * H.summarize(times[single_name])["median_s"],
    }


def markdown(res) -> str:
    rows = [
        [
            name,
            r["nfe"],
            r["solve_median_s"],
            r["per_eval_in_chain_ms"],
            r["single_eval_ms"],
            r["vs_chain"],
            r["vs_single"],
        ]
        for name, r in (
            (k, res[k])
            for k in (
                "ODEBlock",
                "plain TFP",
                "torchdiffeq",
                "odelayers solver, called directly",
                "dense-output coefficients after every step (TFP)",
            )
        )
    ]
    md = (
        f"Solver overhead = forward solve time / (NFE x one evaluation), goal <= 1.15: "
        f"**{res['headline']:.3f}** ({H.goal_mark(res['headline'], 1.15)}).\n\n"
        + H.markdown_table(
            [
                "solver",
                "NFE",
                "solve s",
                "eval ms (chained)",
                "eval ms (single call)",
                "overhead vs chain",
                "overhead vs single",
            ],
            rows,
        )
    )
    every = res["dense-output coefficients after every step (TFP)"]
    md += (
        f"\n\nodelayers computes the dense-output coefficients only for the step that crosses "
        f"the output time; computing them after every step as TFP does takes "
        f"x{every['time_ratio_to_shipped']:.3f} the solve time (overhead "
        f"{every['vs_chain']:.3f}), final states equal to "
        f"{every['max_abs_difference_to_shipped']:.1e}."
    )
    return md


def main(argv=None) -> int:
    args = parse_args(argv)
    threads = H.configure_threads(args.threads, args.inter_op_threads)
    record = H.Record("overhead", args, threads)

    import _odenet as O

    # One torch module: its weights are the TensorFlow dynamics' weights.
    torch_func = O.torch_odefunc()
    y0_np = O.torch_initial_state()
    tf_functions, info = tensorflow_candidates(args, O.export_weights(torch_func), y0_np)
    torch_functions, torch_nfe = torch_candidates(torch_func, y0_np)
    singles = {
        "TF single": tf_functions.pop("TF single"),
        "torch single": torch_functions.pop("torch single"),
    }
    candidates = {**tf_functions, **torch_functions}
    times = H.interleaved({**candidates, **singles}, reps=args.reps, warmup=args.warmup)
    # The single evaluations are short: give them many more repetitions.
    times.update(H.interleaved(singles, reps=10 * args.reps, warmup=3))

    nfe = info["nfe"]
    res = {
        "problem": {
            "batch": 32,
            "size": 18,
            "channels": 64,
            "method": "dopri5",
            "rtol": RTOL,
            "atol": ATOL,
            "group_norm": args.norm,
            "reps": args.reps,
        },
        "ODEBlock": overhead(times, "ODEBlock solve", "ODEBlock chain", nfe, "TF single"),
        "plain TFP": overhead(
            times, "plain TFP solve", "plain TFP chain", info["tfp_nfe"], "TF single"
        ),
        "torchdiffeq": overhead(
            times, "torchdiffeq solve", "torchdiffeq chain", torch_nfe, "torch single"
        ),
        "odelayers solver, called directly": overhead(
            times, "odelayers solver solve", "ODEBlock chain", nfe, "TF single"
        ),
        "dense-output coefficients after every step (TFP)": {
            **overhead(times, "coefficients every step solve", "ODEBlock chain", nfe, "TF single"),
            "max_abs_difference_to_shipped": info["every_max_diff"],
            "time_ratio_to_shipped": H.paired_ratio(
                times, "coefficients every step solve", "odelayers solver solve"
            )["median"],
        },
        "goal": 1.15,
    }
    res["headline"] = res["ODEBlock"]["vs_chain"]
    print(
        f"solver overhead (solve / NFE x eval): ODEBlock {res['headline']:.3f} (goal <= 1.15), "
        f"plain TFP {res['plain TFP']['vs_chain']:.3f}, torchdiffeq "
        f"{res['torchdiffeq']['vs_chain']:.3f}"
    )
    path = record.finish(res, markdown(res))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
