"""What rtol = atol = tol buys under dopri5's two error norms: final-state error and NFE.

``error_norm="tfp"`` (TFP's controller: ``sqrt(mean((err/tol)**4))``, steps
scaled by its -1/6 power) and ``"rms"`` (SciPy's and torchdiffeq's
``rms(err/tol)``, exponent -1/5) at rtol = atol = tol in {1e-2, 1e-3, 1e-4,
1e-5}, on:

* ``decay``: dy/dt = -y, y(0) = (1, 2, 0.5), t in [0, 1], float64; closed form;
* ``rotation``: a linear 2-D rotation dy/dt = [[0, -1], [1, 0]] y, y(0) = (1, 0),
  one turn (t in [0, 2 pi]), float64; closed form;
* ``odenet``: the ODE-Net block of ``bench_odeint.py`` (group norm -> ReLU ->
  ConcatConv2D 3x3 -> group norm -> ReLU -> ConcatConv2D 3x3 -> group norm, 64
  channels, 32 groups) on a [32, 18, 18, 64] float32 state, t in [0, 1], seeded
  Keras initial weights with perturbed gamma/beta; reference: the same weights
  in float64 at rtol = atol = 1e-9 (both norms, which must agree).

Per solve: the relative RMS error ``rms(y - ref) / rms(ref)``, the error in
units of the tolerance ``rms((y - ref) / (atol + rtol |ref|))`` (1 = the error
users of SciPy and torchdiffeq expect from rtol = atol = tol), the NFE, and the
NFE per digit of accuracy (NFE / -log10(relative error)).

    python benchmarks/bench_error_norm.py          # ~1-2 min
"""

from __future__ import annotations

import argparse
import math

import _harness as H
import numpy as np

TOLERANCES = (1e-2, 1e-3, 1e-4, 1e-5)
NORMS = ("tfp", "rms")
REF_TOL = 1e-9
FLOOR_TOL = 1e-7


def _closed_form_problems(tf):
    rotation = tf.constant([[0.0, -1.0], [1.0, 0.0]], tf.float64)
    y_decay = np.array([1.0, 2.0, 0.5])
    turn = 2.0 * math.pi
    return {
        "decay": (lambda t, y: -y, tf.constant(y_decay), 1.0, y_decay * math.exp(-1.0)),
        "rotation": (
            lambda t, y: tf.linalg.matvec(rotation, y),
            tf.constant([1.0, 0.0], tf.float64),
            turn,
            np.array([math.cos(turn), math.sin(turn)]),
        ),
    }


def _odenet_dynamics(dtype: str):
    import keras

    import odelayers

    class Dynamics(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            gn = dict(groups=32, epsilon=1e-5, dtype=dtype)
            self.norms = [odelayers.GroupNormalization(**gn) for _ in range(3)]
            self.convs = [odelayers.ConcatConv2D(64, 3, dtype=dtype) for _ in range(2)]

        def call(self, h, t):
            out = keras.ops.relu(self.norms[0](h))
            out = keras.ops.relu(self.norms[1](self.convs[0](out, t=t)))
            return self.norms[2](self.convs[1](out, t=t))

    layer = Dynamics(dtype=dtype)
    shape = (None, 18, 18, 64)
    for sub in layer.norms + layer.convs:
        sub.build(shape)
    return layer


def _odenet_problem(tf):
    """(float32 dynamics, float32 y0, t1, float64 reference final state)."""
    keras_seed = 3
    import keras

    keras.utils.set_random_seed(keras_seed)
    f32, f64 = _odenet_dynamics("float32"), _odenet_dynamics("float64")
    rng = np.random.default_rng(keras_seed)
    for norm in f32.norms:  # non-trivial gamma/beta, as a trained network has
        norm.set_weights([1.0 + 0.3 * rng.standard_normal(64), 0.3 * rng.standard_normal(64)])
    for a, b in zip(f32.weights, f64.weights):
        b.assign(np.asarray(a, np.float64))
    y0 = rng.standard_normal((32, 18, 18, 64))
    refs = [
        _solve(tf, lambda t, y: f64(y, t), tf.constant(y0), 1.0, REF_TOL, norm)[0] for norm in NORMS
    ]
    agreement = float(np.sqrt(np.mean((refs[0] - refs[1]) ** 2)) / np.sqrt(np.mean(refs[1] ** 2)))
    problem = (lambda t, y: f32(y, t), tf.constant(y0, tf.float32), 1.0, refs[1])
    # The float32 floor: a float32 solve far tighter than any measured tolerance
    # is still off the float64 reference by the rounding the dynamics amplify.
    tight = _solve(tf, problem[0], problem[1], 1.0, FLOOR_TOL, "rms")[0]
    floor = float(np.sqrt(np.mean((tight - refs[1]) ** 2)) / np.sqrt(np.mean(refs[1] ** 2)))
    return problem, {"references_agree": agreement, "float32_floor": floor}


def _solve(tf, func, y0, t1, tol, norm):
    import odelayers

    @tf.function
    def solve(y0):
        y, info = odelayers.odeint(
            func, y0, [0.0, t1], rtol=tol, atol=tol, error_norm=norm, full_output=True
        )
        return y[-1], info["nfe"]

    y, nfe = solve(y0)
    return np.asarray(y, np.float64), int(nfe)


def _measure(tf, problem) -> list[dict]:
    func, y0, t1, ref = problem
    rows = []
    for tol in TOLERANCES:
        for norm in NORMS:
            y, nfe = _solve(tf, func, y0, t1, tol, norm)
            rel = float(np.sqrt(np.mean((y - ref) ** 2)) / np.sqrt(np.mean(ref**2)))
            scaled = float(np.sqrt(np.mean(((y - ref) / (tol + tol * np.abs(ref))) ** 2)))
            rows.append(
                {
                    "tol": tol,
                    "norm": norm,
                    "nfe": nfe,
                    "relative_rms_error": rel,
                    "error_in_tolerances": scaled,
                    "nfe_per_digit": nfe / -math.log10(rel),
                }
            )
    return rows


def summary(results: dict) -> dict:
    """Per norm: mean |log10(error in tolerances)| (0: error = tol) and mean NFE per digit."""
    out = {}
    for norm in NORMS:
        rows = [r for rs in results.values() for r in rs if r["norm"] == norm]
        out[norm] = {
            "mean_abs_log10_error_in_tolerances": float(
                np.mean([abs(math.log10(r["error_in_tolerances"])) for r in rows])
            ),
            "mean_nfe_per_digit": float(np.mean([r["nfe_per_digit"] for r in rows])),
            "total_nfe": int(sum(r["nfe"] for r in rows)),
        }
    return out


def _markdown(results: dict, reference: dict, summ: dict) -> str:
    rows = []
    for name, rs in results.items():
        for r in rs:
            rows.append(
                [
                    name,
                    f"{r['tol']:.0e}",
                    r["norm"],
                    r["nfe"],
                    f"{r['relative_rms_error']:.2e}",
                    f"{r['error_in_tolerances']:.3f}",
                    f"{r['nfe_per_digit']:.1f}",
                ]
            )
    header = ["problem", "rtol = atol", "error_norm", "NFE", "rel. RMS error"]
    table = H.markdown_table(header + ["error / tol", "NFE per digit"], rows)
    summary_rows = [
        [
            n,
            f"{s['mean_abs_log10_error_in_tolerances']:.2f}",
            f"{s['mean_nfe_per_digit']:.1f}",
            s["total_nfe"],
        ]
        for n, s in summ.items()
    ]
    summary_table = H.markdown_table(
        ["error_norm", "mean abs log10(error / tol)", "mean NFE per digit", "total NFE"],
        summary_rows,
    )
    return (
        "dopri5 final-state error and NFE (forward solve, counted by odelayers, first "
        "step selection included). `error / tol` = rms((y - ref) / (atol + rtol |ref|)): "
        "1 means the error is the tolerance. NFE per digit = NFE / -log10(rel. RMS "
        f"error). ODE-Net reference: float64, rtol = atol = {REF_TOL:g}; its two norms' "
        f"references agree to {reference['references_agree']:.1e} (relative RMS); a "
        f"float32 solve at rtol = atol = {FLOOR_TOL:g} is off it by "
        f"{reference['float32_floor']:.1e} (the float32 floor).\n\n"
        + table
        + "\n\nOver all problems and tolerances:\n\n"
        + summary_table
        + "\n"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    H.add_common_arguments(parser)
    args = parser.parse_args(argv)
    threads = H.configure_threads(args.threads, args.inter_op_threads, frameworks=("tensorflow",))
    import tensorflow as tf

    record = H.Record("error_norm", args, threads)
    problems = _closed_form_problems(tf)
    odenet, reference = _odenet_problem(tf)
    problems["odenet"] = odenet
    results = {name: _measure(tf, p) for name, p in problems.items()}
    summ = summary(results)
    path = record.finish(
        {"problems": results, "odenet_reference": reference, "summary": summ},
        _markdown(results, reference, summ),
    )
    print(path.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
