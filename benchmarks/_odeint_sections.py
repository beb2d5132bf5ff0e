"""The measured sections of ``bench_odeint.py`` (each returns a JSON-ready dict).

Ratios are ours / theirs: the median of per-round ratios of interleaved repetitions,
with their quartiles and range; absolute times carry median, quartiles and range too.
"""

from __future__ import annotations

import copy
import statistics
import time

import _harness as H
from _odeint_problem import (
    BAR_SLACK,
    BAR_TOL,
    Problem,
    block_for,
    block_forward,
    block_train,
    fewest_steps,
    loosest_tol,
    tf_nfe,
    torch_forward,
    torch_train_step,
)


def _torch_calls(func, y, cot):
    """A no-grad evaluation and a vector-Jacobian product of a torch dynamics."""
    import torch

    t_half = torch.tensor(0.5)
    y_req = y.clone().requires_grad_(True)
    params = list(func.parameters())

    def evaluate():
        with torch.no_grad():
            return func(t_half, y)

    def vjp():
        return torch.autograd.grad(func(t_half, y_req), [y_req] + params, cot)

    return evaluate, vjp


def _tf_calls(p: Problem, dyn):
    import tensorflow as tf

    evaluate = tf.function(lambda y: dyn(y, t=0.5))

    @tf.function
    def vjp(y):
        with tf.GradientTape() as tape:
            tape.watch(y)
            out = dyn(y, t=0.5)
        return tape.gradient(out, [y] + dyn.trainable_variables, output_gradients=p.cot_tf)

    def sync(fn):
        return lambda: tf.nest.map_structure(lambda x: x.numpy(), fn(p.y0_tf))

    return sync(evaluate), sync(vjp)


def section_dynamics(p: Problem, args) -> dict:
    """One evaluation and one VJP on each side, PyTorch in both memory formats."""
    import torch

    cl = torch.channels_last
    func_cl = copy.deepcopy(p.torch_func).to(memory_format=cl)
    cands = {}
    cands["torch eval"], cands["torch vjp"] = _torch_calls(p.torch_func, p.y0_t, p.cot_t)
    cands["torch channels_last eval"], cands["torch channels_last vjp"] = _torch_calls(
        func_cl, p.y0_t.contiguous(memory_format=cl), p.cot_t.contiguous(memory_format=cl)
    )
    cands["ours eval"], cands["ours vjp"] = _tf_calls(p, p.dyn)
    cands["keras GN eval"], cands["keras GN vjp"] = _tf_calls(p, p.dyn_keras_gn)
    times = H.interleaved(cands, reps=max(10, 2 * args.reps), warmup=args.torch_warmup)
    ratios = {
        f"{kind}, {ours} / {theirs}": H.paired_ratio_spread(
            times, f"{ours} {kind}", f"{theirs} {kind}"
        )
        for kind in ("eval", "vjp")
        for ours in ("ours", "keras GN")
        for theirs in ("torch", "torch channels_last")
    }
    return {"rows": {k: H.summarize(v) for k, v in times.items()}, "ratios": ratios}


def section_torch_format(p: Problem, args) -> dict:
    """PyTorch's memory format for the rest of the run: the faster dopri5 forward solve.

    torchdiffeq stacks the Runge-Kutta stages in a tensor of its own layout, so the
    solve, not one evaluation, decides; ``--torch-format`` forces a format.
    """
    import torch

    cl = torch.channels_last
    q = copy.copy(p)  # shares the state; the module and tensors are replaced below
    q.torch_func = copy.deepcopy(p.torch_func).to(memory_format=cl)
    q.y0_t = p.y0_t.contiguous(memory_format=cl)
    fns = {
        "contiguous": lambda: torch_forward(p, tol=BAR_TOL),
        "channels_last": lambda: torch_forward(q, tol=BAR_TOL),
    }
    times = H.interleaved(fns, reps=max(4, args.reps // 2), warmup=args.torch_warmup)
    # The same solve in two layouts differs by float32 rounding only: the gap of their
    # errors shows how much rounding alone moves the error (see BAR_SLACK).
    errors = {k: p.error(fn()[0], "nchw") for k, fn in fns.items()}
    faster = min(times, key=lambda n: statistics.median(times[n]))
    chosen = faster if args.torch_format == "auto" else args.torch_format
    if chosen == "channels_last":
        p.use_channels_last()
    return {
        "rows": {k: H.summarize(v) for k, v in times.items()},
        "channels_last_over_contiguous": H.paired_ratio_spread(
            times, "channels_last", "contiguous"
        ),
        "faster": faster,
        "used": chosen,
        "errors": errors,
        "rounding_gap_relative": abs(errors["channels_last"] - errors["contiguous"])
        / errors["contiguous"],
    }


def _ours_forward(p: Problem, tol: float, dyn=None):
    """Our compiled dopri5 forward at rtol = atol = tol (memoised per tolerance)."""
    cache = p.__dict__.setdefault("_forward_cache", {})
    key = (tol, id(dyn or p.dyn))
    if key not in cache:
        block = block_for(p, dyn, method="dopri5", rtol=tol, atol=tol)
        fn = block_forward(block)
        cache[key] = lambda: fn(p.y0_tf)
    return cache[key]


def section_tolerances(p: Problem, grid) -> dict:
    """The bar, and each side's loosest grid tolerance whose final-state error meets it."""
    bar = p.error(torch_forward(p, tol=BAR_TOL)[0], "nchw")
    meets = bar * (1 + BAR_SLACK)
    nfe = {"ours": {}, "theirs": {}}

    def theirs(tol):
        final, nfe["theirs"][tol] = torch_forward(p, tol=tol)
        return p.error(final, "nchw")

    def ours(tol):
        final, nfe["ours"][tol] = tf_nfe(p, _ours_forward(p, tol))
        return p.error(final, "nhwc")

    out = {"bar": bar, "bar_tol": BAR_TOL, "slack": BAR_SLACK, "threshold": meets}
    for side, fn in (("theirs", theirs), ("ours", ours)):
        pick = loosest_tol(fn, meets, grid)
        if pick["tol"] is None:
            raise SystemExit(f"{side}: no tolerance of {grid} reaches the bar {bar:.3g}")
        pick["nfe"] = nfe[side][pick["tol"]]
        pick["scanned"] = [
            {"tol": t, "error": e, "nfe": nfe[side][t]} for t, e in pick["scanned"].items()
        ]
        out[side] = pick
    return out


def section_forward(p: Problem, args, tols: dict) -> dict:
    """Forward solves at each side's equal-accuracy tolerance (plus Keras' own GN row)."""
    t_tol, o_tol = tols["theirs"]["tol"], tols["ours"]["tol"]
    fns = {
        "torchdiffeq odeint": lambda: torch_forward(p, tol=t_tol)[0],
        "ODEBlock (shipped layers)": _ours_forward(p, o_tol),
        "ODEBlock (keras.layers.GroupNormalization)": _ours_forward(p, o_tol, p.dyn_keras_gn),
    }
    finals, nfe = {}, {}
    finals["torchdiffeq odeint"], nfe["torchdiffeq odeint"] = torch_forward(p, tol=t_tol)
    for name in list(fns)[1:]:
        finals[name], nfe[name] = tf_nfe(p, fns[name])
    times = H.interleaved(fns, reps=args.reps, warmup=args.torch_warmup)
    rows = {}
    for name in fns:
        layout = "nchw" if name.startswith("torch") else "nhwc"
        rows[name] = {
            **H.summarize(times[name]),
            "tol": t_tol if name.startswith("torch") else o_tol,
            "nfe": nfe[name],
            "error": p.error(finals[name], layout),
            "ratio_to_torchdiffeq": H.paired_ratio_spread(times, name, "torchdiffeq odeint"),
        }
    return {"rows": rows, "ratio": rows["ODEBlock (shipped layers)"]["ratio_to_torchdiffeq"]}


def _first_call(p: Problem, name: str, step, block=None) -> dict:
    """Call a training step once (tracing TF code); count its evaluations; keep grads."""
    if name.startswith("torch"):
        r = step()
        return {"nfe_forward": r["nfe_forward"], "nfe_backward": r["nfe_backward"], **r}
    grads, total = tf_nfe(p, step)
    return {"nfe_forward": block.nfe, "nfe_backward": total - block.nfe, "grads": grads}


def section_adjoint(p: Problem, args, tols: dict) -> dict:
    """dopri5 forward + adjoint backward, seminorm vs seminorm and full vs full."""
    t_tol, o_tol = tols["theirs"]["tol"], tols["ours"]["tol"]
    steps, blocks = {}, {}
    for norm in ("seminorm", "full"):
        blocks[f"ODEBlock adjoint {norm}"] = block = block_for(
            p, method="dopri5", rtol=o_tol, atol=o_tol, gradient="adjoint", adjoint_norm=norm
        )
        steps[f"ODEBlock adjoint {norm}"] = block_train(p, block)
        steps[f"torchdiffeq odeint_adjoint {norm}"] = torch_train_step(p, tol=t_tol, adjoint=norm)
    first = {n: _first_call(p, n, s, blocks.get(n)) for n, s in steps.items()}
    # PyTorch's first calls allocate its caches: it gets its warm-up calls (the
    # first call above counts as one); ours are warm once traced and called.
    H.warm(steps, args.torch_warmup - 1, [n for n in steps if n.startswith("torch")])
    times = H.interleaved(steps, reps=args.adjoint_reps, warmup=0)
    rows = {}
    for name in steps:
        side = "theirs" if name.startswith("torch") else "ours"
        rows[name] = {
            **H.summarize(times[name]),
            "tol": tols[side]["tol"],
            "nfe_forward": first[name]["nfe_forward"],
            "nfe_backward": first[name]["nfe_backward"],
            "grad_error": p.grad_errors(
                first[name]["grads"], "torch" if side == "theirs" else "tf"
            ),
        }
    return {
        "rows": rows,
        "ratio_seminorm": H.paired_ratio_spread(
            times, "ODEBlock adjoint seminorm", "torchdiffeq odeint_adjoint seminorm"
        ),
        "ratio_full": H.paired_ratio_spread(
            times, "ODEBlock adjoint full", "torchdiffeq odeint_adjoint full"
        ),
    }


def _fixed_step_candidates(p: Problem, bar: float, limit: int) -> tuple[dict, dict, dict]:
    """rk4 / midpoint / euler with backprop at the fewest steps reaching ``bar``, each side."""
    candidates, meta, blocks = {}, {}, {}
    for method in ("rk4", "midpoint", "euler"):

        def theirs(n, method=method):
            return p.error(torch_forward(p, method=method, n_steps=n)[0], "nchw")

        def ours(n, method=method):
            block = block_for(p, method=method, num_steps=n, gradient="backprop")
            return p.error(block_forward(block)(p.y0_tf), "nhwc")

        n_t, err_t = fewest_steps(theirs, bar, limit=limit)
        n_o, err_o = fewest_steps(ours, bar, start=n_t or 1, limit=limit)
        for side, n, err in (("ours", n_o, err_o), ("theirs", n_t, err_t)):
            if n is None:
                meta[f"{side} {method}"] = {"side": side, "method": method, "reached": False}
                continue
            name = f"{'ours' if side == 'ours' else 'torchdiffeq'} {method} x{n} backprop"
            if side == "ours":
                blocks[name] = block_for(p, method=method, num_steps=n, gradient="backprop")
                candidates[name] = block_train(p, blocks[name])
            else:
                candidates[name] = torch_train_step(p, method=method, n_steps=n)
            meta[name] = {"side": side, "method": method, "steps": n, "error": err}
    return candidates, meta, blocks


def section_fastest(p: Problem, args, tols: dict, adjoint: dict) -> dict:
    """Each library's fastest training step among solvers reaching the bar.

    Candidates: dopri5 backprop at each side's tolerance and fixed-step methods at
    their fewest steps; a candidate whose single timed run is over ``args.prune``
    times its side's best is reported but not repeated (it cannot win). The
    dopri5 adjoint steps come from the adjoint section (not timed again).
    """
    candidates, meta, blocks = _fixed_step_candidates(p, tols["threshold"], args.max_steps)
    for side, label in (("ours", "ours dopri5 backprop"), ("theirs", "torchdiffeq dopri5")):
        tol = tols[side]["tol"]
        name = f"{label} backprop" if side == "theirs" else label
        if side == "ours":
            blocks[name] = block_for(p, method="dopri5", rtol=tol, atol=tol, gradient="backprop")
            candidates[name] = block_train(p, blocks[name])
        else:
            candidates[name] = torch_train_step(p, tol=tol)
        meta[name] = {"side": side, "method": "dopri5", "tol": tol, "error": tols[side]["error"]}
    once = {}
    for name, step in candidates.items():
        first = _first_call(p, name, step, blocks.get(name))
        meta[name].update({k: first[k] for k in ("nfe_forward", "nfe_backward")})
        start = time.perf_counter()
        step()
        once[name] = time.perf_counter() - start
    best = {s: min(t for n, t in once.items() if meta[n]["side"] == s) for s in ("ours", "theirs")}
    timed = {n: c for n, c in candidates.items() if once[n] <= args.prune * best[meta[n]["side"]]}
    times = H.interleaved(timed, reps=args.reps, warmup=max(0, args.torch_warmup - 2))
    rows = {}
    for name, m in meta.items():
        rows[name] = dict(m)
        if name in times:
            rows[name].update(H.summarize(times[name]))
        elif name in once:
            rows[name].update({"median_s": once[name], "n": 1, "note": "single run (pruned)"})
    for name, r in adjoint["rows"].items():
        if name.endswith("seminorm"):
            side = "theirs" if name.startswith("torch") else "ours"
            keep = ("median_s", "q1_s", "q3_s", "n", "nfe_forward", "nfe_backward", "tol")
            rows[name] = {"side": side, "method": "dopri5 adjoint", **{k: r[k] for k in keep}}
            rows[name]["note"] = "timed in the adjoint section"
    med = {n: statistics.median(v) for n, v in times.items()}
    fastest = {s: min((n for n in times if meta[n]["side"] == s), key=med.get) for s in best}
    adjoint_wins = [
        n for n, r in rows.items() if "adjoint" in n and r["median_s"] < med[fastest[r["side"]]]
    ]
    return {
        "error_bar": tols["threshold"],
        "rows": rows,
        "fastest_ours": fastest["ours"],
        "fastest_theirs": fastest["theirs"],
        "ratio": H.paired_ratio_spread(times, fastest["ours"], fastest["theirs"]),
        "adjoint_faster_than_fastest": adjoint_wins,
    }
