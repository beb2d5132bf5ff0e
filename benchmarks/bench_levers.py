"""The ODE layer's levers, one section per run, on bench_odeint's problem, weights and bar."""

import functools
import itertools
import math

import _common as C
import bench_odeint as O
import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import torch

import odelayers

NORMS = ("tfp", "rms")
FORWARD_LEVERS = {  # each lever's ODEBlock options (dopri5 at 1e-3), the shipped first: the base
    "first_step": {"automatic (Hairer), shipped": {}, "fixed 1e-3 (TFP's)": {"first_step": 1e-3}},
    "error_norm": {"rms, shipped": {}, "tfp": {"error_norm": "tfp"}},
}
UNSHIPPED = {  # odelayers' loop settings, each set back to TFP's way
    "dense output after every step, TFP's way": {"LAZY_DENSE_OUTPUT": False},
    "stage sums unfused": {"FUSE_MIN_ELEMENTS": 2**62},
}
ADJOINT_NORMS = {
    "seminorm, shipped": {},
    "full (TFP's adjoint)": {"adjoint_norm": "full"},
    "seminorm, tfp error norm": {"error_norm": "tfp"},
}


def compare(p, args, variants: dict, train: bool) -> dict:
    """NFE, error and time of ODEBlock variants, forward solve or training step."""
    calls, rows = {}, {}
    make = functools.partial(O.tf_train, adjoint="seminorm") if train else O.tf_forward
    for name, options in variants.items():
        calls[name] = make(p, **options)
        result, *nfe = calls[name]()  # the final state, or the gradients
        error = {"grad_error": p.grad_errors(result)} if train else {"error": p.error(result)}
        rows[name] = {"nfe": nfe if train else nfe[0], **error}
    C.timed(rows, calls, args.repeats, base=next(iter(calls)))
    return rows


def section_ode_levers(args) -> dict:
    """First step, error norm, adjoint norm, loop parallel_iterations, against the shipped."""
    p, rows, calls = O.Problem(args=args), {}, {}
    out = {name: compare(p, args, v, train=False) for name, v in FORWARD_LEVERS.items()}
    out["adjoint_norm"] = compare(p, args, ADJOINT_NORMS, train=True)
    for name, n in (("1, shipped", 1), ("10, TensorFlow's default", 10)):
        with C.tuning(PARALLEL_ITERATIONS=n):  # read when traced: the first calls
            forward, calls[name] = O.tf_forward(p), O.tf_train(p, adjoint="seminorm")
            forward(), calls[name]()
        peaks = [C.peak_mib(call) for call in (forward, calls[name])]
        rows[name] = dict(zip(("forward_peak_mib", "train_peak_mib"), peaks))
    C.timed(rows, calls, args.repeats, base=next(iter(calls)))
    out["parallel_iterations"] = rows
    for name, section in out.items():
        C.rows_table(name, section, ("nfe", "error", "grad_error", "median", "ratio_to_first"))
    return out


def section_overhead(args) -> dict:
    """Solve time over NFE evaluations chained in one compiled function (strict), and single."""
    p = O.Problem(batch=4 if args.tiny else 32)
    plain, f = tfp.math.ode.DormandPrince(rtol=1e-3, atol=1e-3), lambda t, h: p.dyn(h, t=t)
    tfp_solve = tf.function(lambda y: plain.solve(f, 0.0, y, solution_times=[1.0]).states[-1])
    plain_tfp = lambda: p.count(lambda: tfp_solve(p.y0_tf).numpy())  # noqa: E731
    solves = {"ODEBlock": O.tf_forward(p), "plain TFP": plain_tfp}
    solves["torchdiffeq"] = O.torch_forward(p)
    for name, setting in UNSHIPPED.items():
        with C.tuning(**setting):
            solves[name] = O.tf_forward(p)
            solves[name]()
    nfe = {name: solve()[1] for name, solve in solves.items()}

    def chain(side, n):  # n evaluations one after another: no loop machinery
        if side == O.THEIRS:
            step = lambda y, k: p.func(torch.tensor(k / n), y)  # noqa: E731
            return lambda: functools.reduce(step, range(n), p.y0_t)
        run = tf.function(lambda y: functools.reduce(lambda y, k: p.dyn(y, t=k / n), range(n), y))
        return lambda: run(p.y0_tf).numpy()

    calls = {f"{name} solve": solve for name, solve in solves.items()}
    calls |= {f"{name} chain": chain(name, nfe[name]) for name in solves}
    with torch.no_grad():
        times = C.interleave(calls, args.repeats)
        singles = C.interleave({s: chain(s, 1) for s in (O.OURS, O.THEIRS)}, 10 * args.repeats)
    single, rows = {k: np.median(v) for k, v in singles.items()}, {}
    for name, n in nfe.items():
        solve = np.median(times[f"{name} solve"])
        one = single.get(name, single[O.OURS])  # torchdiffeq's, or ours
        rows[name] = {"nfe": n, "solve_s": solve, "vs_single": solve / (n * one)}
        rows[name]["vs_chain"] = C.ratio(times, f"{name} solve", f"{name} chain")
    table = [[k, r["nfe"], r["vs_chain"]["median"], r["vs_single"]] for k, r in rows.items()]
    C.table(["solver", "NFE", "vs chain (goal <= 1.15)", "vs single"], table)
    return {"rows": rows, "single_eval_s": single}


def section_precision(args) -> dict:
    """float64 dy/dt = y, y(0) = 1 on [0, 1]: error of y(1) = e and NFE, odelayers and plain TFP."""
    rows, y0, f = [], tf.constant([1.0], tf.float64), lambda t, y: y
    error = lambda states: abs(float(states[-1, 0]) - math.e)  # noqa: E731
    for tol in (1e-6, 1e-8) if args.tiny else (1e-6, 1e-8, 1e-10, 1e-12):
        plain = tfp.math.ode.DormandPrince(rtol=tol, atol=tol)
        plain = plain.solve(f, 0.0, y0, solution_times=tf.constant([1.0], tf.float64))
        options = dict(rtol=tol, atol=tol, max_num_steps=100_000, full_output=True)
        ours, info = odelayers.odeint(f, y0, [0.0, 1.0], **options)
        # TFP's count leaves out the first evaluation.
        tfp_row = [error(plain.states), int(plain.diagnostics.num_ode_fn_evaluations) + 1]
        rows.append({"tol": tol, "tfp": tfp_row, "odelayers": [error(ours), int(info["nfe"])]})
    C.table(["tol", "tfp", "odelayers"], [list(r.values()) for r in rows])
    return {"rows": rows}


def section_error_norm(args) -> dict:
    """Error, error / tol, NFE per digit under each norm: dy/dt = -y, a rotation, the ODE-Net."""
    rotation = tf.constant([[0.0, -1.0], [1.0, 0.0]], tf.float64)
    decay, turn = np.array([1.0, 2.0, 0.5]), lambda t, y: tf.linalg.matvec(rotation, y)
    closed = {  # dynamics, y0, t1, exact y(t1)
        "decay": (lambda t, y: -y, decay, 1.0, np.exp(-1.0) * decay),
        "rotation": (turn, np.array([1.0, 0.0]), 2 * math.pi, np.array([1.0, 0.0])),
    }
    p, rows, tols = O.Problem(args=args), [], (1e-2, 1e-3, 1e-4, 1e-5)[: 2 if args.tiny else None]
    for name, tol, norm in itertools.product((*closed, "odenet"), tols, NORMS):
        if name == "odenet":
            (y, nfe), ref = O.tf_forward(p, tol=tol, error_norm=norm)(), p.ref["final"]
        else:
            f, y0, t1, ref = closed[name]
            options = dict(t=[0.0, t1], rtol=tol, atol=tol, error_norm=norm, full_output=True)
            y, info = tf.function(functools.partial(odelayers.odeint, f, **options))(y0)
            y, nfe = y[-1], int(info["nfe"])
        y, ref = np.asarray(y, np.float64), np.asarray(ref, np.float64)
        rel = float(np.sqrt(np.mean((y - ref) ** 2) / np.mean(ref**2)))
        in_tols = float(np.sqrt(np.mean(((y - ref) / (tol + tol * np.abs(ref))) ** 2)))
        row = dict(problem=name, tol=tol, norm=norm, nfe=nfe, error=rel, error_in_tols=in_tols)
        rows.append(row | {"nfe_per_digit": nfe / -math.log10(rel)})
    summary = {}
    for n in NORMS:
        mine = np.array([(r["error_in_tols"], r["nfe_per_digit"]) for r in rows if r["norm"] == n])
        log_in_tols, per_digit = np.abs(np.log10(mine[:, 0])).mean(), mine[:, 1].mean()
        summary[n] = dict(mean_abs_log10_error_in_tols=log_in_tols, mean_nfe_per_digit=per_digit)
    floor = p.error(O.tf_forward(p, tol=1e-7)()[0])  # float32's own limit on the ODE-Net
    C.table(list(rows[0]), [list(r.values()) for r in rows])
    return {"rows": rows, "summary": summary, "odenet_float32_floor": floor}


def section_group_norm(args) -> dict:
    """Forward, forward + backward of both layers, same weights: Keras / ours (10 calls a round)."""
    rng, cases = np.random.default_rng(0), []
    layers = {"keras": keras.layers.GroupNormalization, "odelayers": odelayers.GroupNormalization}

    def one_pass(layer, mode, x, cot):
        if mode == "forward":
            return layer(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x) * cot)
        return tape.gradient(loss, [x, layer.gamma, layer.beta])

    shapes = [(4 if args.tiny else 32, 18, 18, c) for c in (64, 32)]
    for shape, mode in itertools.product(shapes, ("forward", "forward+backward")):
        x = tf.constant(rng.standard_normal(shape).astype("float32") * 2.0 + 0.3)
        cot = tf.constant(rng.standard_normal(shape).astype("float32"))
        weights = [1.0 + 0.3 * rng.standard_normal(shape[-1]).astype("float32") for _ in range(2)]
        calls, outs = {}, {}
        for name, cls in layers.items():
            layer = cls(32, epsilon=1e-3)
            layer.build(shape)
            layer.set_weights(weights)
            fn = tf.function(functools.partial(one_pass, layer, mode, x, cot))
            outs[name] = [np.asarray(v) for v in tf.nest.flatten(fn())]
            calls[name] = lambda fn=fn: [fn() for _ in range(10)]
        diff = max(float(np.abs(a - b).max()) for a, b in zip(*outs.values()))
        assert diff < 1e-3, f"the layers differ by {diff} ({mode}, {shape})"
        times = C.interleave(calls, args.repeats)
        case = {"shape": shape, "mode": mode, "speedup": C.ratio(times, "keras", "odelayers")}
        case |= {k: C.spread(np.array(v) / 10) for k, v in times.items()}
        cases.append(case | {"max_abs_difference": diff})
    table = [[c["shape"], c["mode"], c["speedup"]["median"]] for c in cases]
    C.table(["shape", "pass", "Keras / ours"], table)
    return {"cases": cases}


def section_fixed_methods(args) -> dict:
    """Every fixed-step method at 1, 2, ... equal steps until it meets the bar."""
    p, limit = O.Problem(args=args), 4 if args.tiny else 16
    bar = p.error(O.torch_forward(p)()[0]) * (1 + O.BAR_SLACK)
    theirs = ("euler", "midpoint", "heun2", "heun3", "rk4", "explicit_adams", "implicit_adams")
    methods = [(O.THEIRS, O.torch_forward, m) for m in theirs]
    methods += [(O.OURS, O.tf_forward, m) for m in O.FIXED]
    rows = [{"side": s, "method": m, **O.fewest_steps(p, f, m, bar, limit)} for s, f, m in methods]
    C.table(["library", "method", "fewest steps", "NFE"], [list(r.values())[:4] for r in rows])
    return {"bar": bar, "rows": rows}


SECTIONS = {k[8:]: f for k, f in globals().items() if k.startswith("section_")}


if __name__ == "__main__":
    args = C.arguments(__doc__, repeats=15, options={"section": dict(choices=SECTIONS)})
    C.run(args, args.section, SECTIONS[args.section])  # PyTorch is loaded: pinned, recorded
