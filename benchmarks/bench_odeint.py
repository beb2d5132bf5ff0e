"""The ODE layer against torchdiffeq 0.2.5 on Chen et al.'s ODE-Net dynamics, at equal accuracy.

Problem: torchdiffeq's ``examples/odenet_mnist.py`` ODEfunc (GroupNorm -> ReLU ->
ConcatConv 3x3 -> GroupNorm -> ReLU -> ConcatConv 3x3 -> GroupNorm, 64 channels) on
18x18 feature maps, batch 32, float32, t in [0, 1]. Our side is built from what
odelayers ships (``odelayers.ConcatConv2D``, ``odelayers.GroupNormalization``,
``odelayers.ODEBlock``); both sides hold the same weights (copied from PyTorch,
NCHW -> NHWC) and one evaluation is checked equal to 1e-5 before anything is timed.

Equal accuracy, not equal tolerance: the two libraries' dopri5 controllers differ,
so the same rtol/atol gives different errors. The bar is torchdiffeq dopri5's
final-state error at rtol = atol = 1e-3 (relative RMS error against float64
torchdiffeq at a tight tolerance); each side then runs at the loosest tolerance of
a grid whose error meets the bar. Measured, interleaved (ratios = ours / theirs,
median and spread of per-round ratios):

1. one dynamics evaluation and VJP; PyTorch's memory format for the rest of the run
   (channels_last if its forward solve is faster in this run);
2. forward solve at the equal-accuracy tolerances (goal <= 0.8), with an extra row
   for the same block on ``keras.layers.GroupNormalization``;
3. forward + adjoint backward, seminorm vs seminorm and full vs full (goal <= 0.8),
   with each side's gradient error against a float64 reference gradient;
4. the fastest training step each library offers among solvers reaching the bar
   (dopri5 backprop, rk4 / midpoint / euler at their fewest steps; goal <= 0.8).

One invocation measures one thread setting; outputs are ``odeint_t<threads>[_<label>]
.{json,md}``. ``benchmarks/_odeint_combine.py`` merges the runs into ``odeint.md``.
Run: ``python benchmarks/bench_odeint.py --threads 1 --run-label a`` (about 10 minutes
on an idle 2-core machine, most of it the adjoint section's 10 rounds of four adjoint
steps; the first run in an --out folder adds the float64 reference, 1-3 minutes);
``--quick`` for a smoke run (6 minutes at 1 thread under a load of 4 on 2 cores).
"""

from __future__ import annotations

import argparse
import sys

import _harness as H
from _odeint_problem import QUICK_REF_TOL, QUICK_TOL_GRID, REF_TOL, TOL_GRID, Problem, reference
from _odeint_report import render_markdown
from _odeint_sections import (
    section_adjoint,
    section_dynamics,
    section_fastest,
    section_forward,
    section_tolerances,
    section_torch_format,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    H.add_common_arguments(parser)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 reps, 3 tolerances")
    parser.add_argument("--run-label", default=None, help="suffix of the output names (a, b)")
    parser.add_argument(
        "--adjoint-reps", type=int, default=None, help="reps of the adjoint steps (10; quick 2)"
    )
    parser.add_argument(
        "--torch-warmup",
        type=int,
        default=None,
        help="untimed PyTorch calls before timing, first call included (3; quick 1)",
    )
    parser.add_argument(
        "--torch-format",
        choices=("auto", "contiguous", "channels_last"),
        default="auto",
        help="PyTorch memory format (auto: the faster forward solve in this run)",
    )
    parser.add_argument(
        "--ref-tol", type=float, default=None, help=f"float64 reference tolerance ({REF_TOL:g})"
    )
    parser.add_argument(
        "--prune",
        type=float,
        default=2.0,
        help="fastest step: repeat only candidates within this factor of their side's best",
    )
    parser.add_argument("--max-steps", type=int, default=64, help="fixed-step search limit")
    args = parser.parse_args(argv)
    quick = args.quick
    args.reps = args.reps or (2 if quick else 10)
    args.adjoint_reps = args.adjoint_reps or (2 if quick else 10)
    args.torch_warmup = args.torch_warmup or (1 if quick else 3)
    args.ref_tol = args.ref_tol or (QUICK_REF_TOL if quick else REF_TOL)
    args.grid = QUICK_TOL_GRID if quick else TOL_GRID
    return args


def output_name(threads: int, label: str | None) -> str:
    """``odeint_t<threads>`` plus ``_<label>`` when a run label is given."""
    return f"odeint_t{threads}" + (f"_{label}" if label else "")


def _say(text: str) -> None:
    print(text, flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    threads = H.configure_threads(args.threads, args.inter_op_threads)
    record = H.Record(output_name(args.threads, args.run_label), args, threads)
    p = Problem()
    res = {
        "problem": {
            "batch": 32,
            "size": 18,
            "channels": 64,
            "dtype": "float32",
            "t": [0.0, 1.0],
            "error_metric": "rms(y - ref) / rms(ref), final state",
            "grad_error_metric": "||g - g_ref|| / ||g_ref||, d/dy0 and all d/dparams",
            "tolerance_grid": list(args.grid),
            "reps": args.reps,
            "adjoint_reps": args.adjoint_reps,
            "torch_warmup": args.torch_warmup,
            "quick": args.quick,
        }
    }
    res["equivalence_max_abs_diff"] = p.check_equivalence()
    _say(f"dynamics agree with PyTorch's: {res['equivalence_max_abs_diff']}")
    p.ref = reference(p, args.ref_tol, args.out)
    res["reference"] = {k: v for k, v in p.ref.items() if k not in ("final", "grads")}
    _say(f"reference: {res['reference']}")
    res["dynamics"] = section_dynamics(p, args)
    res["torch_format"] = section_torch_format(p, args)
    _say(f"PyTorch memory format: {res['torch_format']['used']}")
    res["tolerances"] = tols = section_tolerances(p, args.grid)
    _say(
        f"bar {tols['bar']:.3g}; tolerances: ours {tols['ours']['tol']:g} "
        f"(NFE {tols['ours']['nfe']}), theirs {tols['theirs']['tol']:g} "
        f"(NFE {tols['theirs']['nfe']})"
    )
    res["forward"] = section_forward(p, args, tols)
    _say(f"forward ratio {res['forward']['ratio']['median']:.3f} (goal <= 0.8)")
    res["adjoint"] = section_adjoint(p, args, tols)
    _say(
        f"forward + adjoint ratio: seminorm {res['adjoint']['ratio_seminorm']['median']:.3f}, "
        f"full {res['adjoint']['ratio_full']['median']:.3f} (goal <= 0.8)"
    )
    res["fastest"] = section_fastest(p, args, tols, res["adjoint"])
    _say(
        f"fastest training step: {res['fastest']['fastest_ours']} / "
        f"{res['fastest']['fastest_theirs']} = {res['fastest']['ratio']['median']:.3f}"
    )
    path = record.finish(res, render_markdown(res))
    _say(f"wrote {path} and {path.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
