"""Accuracy of float64 dopri5 at tight tolerances: odelayers against plain TFP.

On dy/dt = y, y(0) = 1 over [0, 1] (exact y(1) = e), both solvers at rtol = atol from
1e-6 to 1e-12: absolute error of y(1) and the number of evaluations. TFP's
``runge_kutta_util.weighted_sum`` converts the Python-float Butcher tableau with
``tf.cast(c, dtype)``, which creates a float32 constant first: a float64 solve then
runs with coefficients rounded to float32 (relative errors ~3e-8), so its error cannot
go below ~1e-8 whatever the tolerance, and its step-size control works against an
error estimate polluted at that level. odelayers forms ``dt * c`` in the state's dtype.

Run: ``python benchmarks/bench_precision.py`` (a few seconds).
"""

from __future__ import annotations

import argparse
import math
import sys

import _harness as H

TOLERANCES = (1e-6, 1e-8, 1e-10, 1e-12)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    H.add_common_arguments(parser)
    args = parser.parse_args(argv)
    threads = H.configure_threads(args.threads, args.inter_op_threads, frameworks=("tensorflow",))
    record = H.Record("precision", args, threads)

    import tensorflow as tf
    import tensorflow_probability as tfp

    import odelayers

    y0 = tf.constant([1.0], tf.float64)
    rows = []
    for tol in TOLERANCES:
        plain = tfp.math.ode.DormandPrince(rtol=tol, atol=tol).solve(
            lambda t, y: y, 0.0, y0, solution_times=tf.constant([1.0], tf.float64)
        )
        ours, info = odelayers.odeint(
            lambda t, y: y,
            y0,
            [0.0, 1.0],
            rtol=tol,
            atol=tol,
            max_num_steps=100_000,
            full_output=True,
        )
        rows.append(
            {
                "tol": tol,
                "tfp_error": abs(float(plain.states[-1, 0]) - math.e),
                # TFP's count leaves out the initial evaluation.
                "tfp_nfe": int(plain.diagnostics.num_ode_fn_evaluations) + 1,
                "odelayers_error": abs(float(ours[-1, 0]) - math.e),
                "odelayers_nfe": int(info["nfe"]),
            }
        )
        print(rows[-1], flush=True)
    res = {"problem": "dy/dt = y, y(0) = 1, t in [0, 1], float64, dopri5", "rows": rows}
    md = (
        "dy/dt = y, y(0) = 1, absolute error of y(1) = e, float64, rtol = atol = tol "
        "(first-step choice differs: TFP fixed 1e-3, odelayers automatic).\n\n"
        + H.markdown_table(
            ["tol", "TFP error", "TFP NFE", "odelayers error", "odelayers NFE"],
            [
                [r["tol"], r["tfp_error"], r["tfp_nfe"], r["odelayers_error"], r["odelayers_nfe"]]
                for r in rows
            ],
        )
    )
    path = record.finish(res, md)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
