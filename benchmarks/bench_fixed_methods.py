"""Which fixed-step method reaches bench_odeint's error bar in the fewest evaluations, each side.

``bench_odeint.py``'s fastest training step compares each library's fastest
candidate among rk4, midpoint and euler (and dopri5). This checks that no other
fixed-step method torchdiffeq offers (``heun2``, ``heun3``, its Adams methods)
reaches the same bar with fewer evaluations, which would make torchdiffeq's
fastest step faster than the one timed there. Same problem, weights, reference
and bar as ``bench_odeint.py`` (torchdiffeq dopri5's final-state error at
rtol = atol = 1e-3, within 1 %). Errors and evaluation counts only, no timing:
for a fixed-step method and backprop the cost of a training step is its number of
evaluations times one evaluation with its gradient, which ``bench_odeint.py`` times.

Each method is scanned at 1, 2, ... ``--max-steps`` equal steps (no bisection:
the Adams methods' error is not monotonic in the step count) until it meets the
bar. torchdiffeq's ``rk4`` is the 3/8 rule (``rk4_alt_step_func``), odelayers'
the classical one; both are listed as each library names them.

Run: ``python benchmarks/bench_fixed_methods.py`` (about two minutes; the float64
reference is computed once per ``--out`` folder and cached, as bench_odeint's).
"""

from __future__ import annotations

import argparse
import sys

import _harness as H
from _odeint_problem import (
    BAR_SLACK,
    BAR_TOL,
    REF_TOL,
    Problem,
    block_for,
    block_forward,
    reference,
    tf_nfe,
    torch_forward,
)

THEIRS = ("euler", "midpoint", "heun2", "heun3", "rk4", "explicit_adams", "implicit_adams")
OURS = ("euler", "midpoint", "rk4")


def scan(error_and_nfe, bar: float, max_steps: int) -> dict:
    """Steps 1..max_steps until the error meets ``bar``: {steps, nfe, error, scanned}."""
    scanned = {}
    for n in range(1, max_steps + 1):
        error, nfe = error_and_nfe(n)
        scanned[n] = {"error": error, "nfe": nfe}
        if error <= bar:
            return {"steps": n, "nfe": nfe, "error": error, "scanned": scanned}
    return {"steps": None, "nfe": None, "error": None, "scanned": scanned}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    H.add_common_arguments(parser)
    parser.add_argument("--max-steps", type=int, default=16, help="most steps tried per method")
    args = parser.parse_args(argv)
    if args.max_steps < 1:
        parser.error("--max-steps must be at least 1")
    threads = H.configure_threads(args.threads, args.inter_op_threads)
    record = H.Record("fixed_methods", args, threads)

    p = Problem()
    p.check_equivalence()
    p.ref = reference(p, REF_TOL, args.out)
    bar_error = p.error(torch_forward(p, method="dopri5", tol=BAR_TOL)[0], "nchw")
    bar = bar_error * (1 + BAR_SLACK)
    print(f"bar: {bar_error:.4g} (met by <= {bar:.4g})", flush=True)

    rows = []
    for method in THEIRS:

        def theirs(n, method=method):
            final, nfe = torch_forward(p, method=method, n_steps=n)
            return p.error(final, "nchw"), nfe

        rows.append({"side": "torchdiffeq", "method": method, **scan(theirs, bar, args.max_steps)})
        print(rows[-1]["side"], method, rows[-1]["steps"], rows[-1]["nfe"], flush=True)
    for method in OURS:

        def ours(n, method=method):
            forward = block_forward(block_for(p, method=method, num_steps=n, gradient="backprop"))
            final, nfe = tf_nfe(p, lambda: forward(p.y0_tf))
            return p.error(final, "nhwc"), nfe

        rows.append({"side": "odelayers", "method": method, **scan(ours, bar, args.max_steps)})
        print(rows[-1]["side"], method, rows[-1]["steps"], rows[-1]["nfe"], flush=True)

    reached = [r for r in rows if r["nfe"] is not None]
    fewest = {
        side: min((r["nfe"] for r in reached if r["side"] == side), default=None)
        for side in ("torchdiffeq", "odelayers")
    }
    res = {
        "bar_error": bar_error,
        "bar": bar,
        "max_steps": args.max_steps,
        "rows": rows,
        "fewest_nfe": fewest,
    }
    table = H.markdown_table(
        ["library", "method", "fewest steps", "NFE", "error", "errors at 1, 2, 3, ... steps"],
        [
            [
                r["side"],
                r["method"],
                "–" if r["steps"] is None else r["steps"],
                "–" if r["nfe"] is None else r["nfe"],
                "not reached" if r["error"] is None else f"{r['error']:.3g}",
                ", ".join(f"{s['error']:.2g}" for s in r["scanned"].values()),
            ]
            for r in rows
        ],
    )
    md = (
        f"Bar: torchdiffeq dopri5's relative final-state error at rtol = atol = {BAR_TOL:g}, "
        f"{bar_error:.4g} (met by <= {bar:.4g}), on bench_odeint's problem (ODE-Net dynamics, "
        f"[32, 64, 18, 18], t in [0, 1], identical weights, float64 reference at {REF_TOL:g}). "
        f"Each method at 1 to {args.max_steps} equal steps until it meets the bar.\n\n"
        + table
        + f"\n\nFewest evaluations reaching the bar: torchdiffeq {fewest['torchdiffeq']}, "
        f"odelayers {fewest['odelayers']}.\n"
    )
    path = record.finish(res, md)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
