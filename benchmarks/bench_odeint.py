"""The ODE layer against torchdiffeq and diffrax on Chen et al.'s ODE-Net dynamics at equal error:
forward, forward + adjoint, each library's fastest training step; ratios ours / theirs."""

import copy
import hashlib
import os
import statistics
import time

import _common as C
import keras
import numpy as np
import tensorflow as tf
import torch
import torchdiffeq
from torch import nn

import odelayers

os.environ.setdefault("JAX_PLATFORMS", "cpu")
try:  # diffrax, the third side, where installed
    import diffrax
    import jax
    import jax.numpy as jnp
except ImportError:
    diffrax = jax = jnp = None

BAR_TOL = 1e-3
# At the same steps the two sides' errors differ by float32 rounding only, which must
# not decide a tie; one step of TOLS moves the error by ~30%.
BAR_SLACK = 0.01
TOLS = (3e-3, 2e-3, 1.5e-3, 1e-3, 7e-4, 5e-4, 3e-4, 2e-4, 1e-4)  # loosest first
TINY_TOLS, FIXED = (2e-3, 1e-3, 5e-4), ("rk4", "midpoint", "euler")
REF_CHUNK = 4  # group norm and convolutions act per example: chunks change only memory
OURS, THEIRS, DIFFRAX = "ODEBlock", "torchdiffeq", "diffrax"
# Each side's gradients: the adjoint with either norm, and diffrax's default (checkpointed
# backprop), whose gradient errors must meet torchdiffeq's full-norm adjoint's.
ADJOINTS = {OURS: ("seminorm", "full"), THEIRS: ("seminorm", "full")}
ADJOINTS[DIFFRAX] = (*ADJOINTS[OURS], "checkpoint")
FIXED_METHODS = {OURS: FIXED, THEIRS: FIXED, DIFFRAX: ("tsit5", "bosh3", "midpoint", "euler")}
_NFE, _COMPILED, COMPILE_S, DIMS = [0], {}, {}, ("NHWC", "HWIO", "NHWC")  # diffrax's side
ROW_KEYS = ("tol", "meets_bar", "nfe", "error", "grad_error", "once_s", "median", "min", "max")


class ODEfunc(nn.Module):
    """torchdiffeq's example ``ODEfunc`` with an NFE counter and non-trivial group-norm weights."""

    def __init__(self, dim=64):
        super().__init__()
        torch.manual_seed(0)
        self.norm1, self.norm2, self.norm3 = (nn.GroupNorm(32, dim) for _ in range(3))
        # torchdiffeq's ConcatConv2d: the time channel first.
        self.conv1, self.conv2 = (nn.Conv2d(dim + 1, dim, 3, padding=1) for _ in range(2))
        self.nfe = 0
        with torch.no_grad():  # gamma = 1, beta = 0 would not check the weight transfer
            for gn in (self.norm1, self.norm2, self.norm3):
                gn.weight.copy_(1.0 + 0.1 * torch.randn_like(gn.weight))
                gn.bias.copy_(0.1 * torch.randn_like(gn.bias))

    def forward(self, t, x):
        self.nfe += 1
        concat = lambda h: torch.cat([torch.ones_like(h[:, :1]) * t, h], 1)  # noqa: E731
        out = self.conv1(concat(torch.relu_(self.norm1(x))))
        return self.norm3(self.conv2(concat(torch.relu_(self.norm2(out)))))

    def params(self) -> list:
        """The weights in the order of the Keras copy's ``trainable_variables``."""
        layers = (self.norm1, self.norm2, self.norm3, self.conv1, self.conv2)
        return [p for m in layers for p in (m.weight, m.bias)]


def tf_layout(a):
    """An NCHW state, or a [out, in, kh, kw] kernel, as TensorFlow lays it out."""
    axes = (2, 3, 1, 0) if a.shape[-1] == 3 else (0, 2, 3, 1)  # a 3x3 kernel, or a state
    return np.ascontiguousarray(a.transpose(axes)) if a.ndim == 4 else a


def keras_dynamics(func: ODEfunc, counter):
    """``func`` rebuilt from odelayers' layers; ``counter`` (an int64 tf.Variable) counts evaluations."""

    class Dynamics(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.norms = [odelayers.GroupNormalization(32, epsilon=1e-5) for _ in range(3)]
            self.convs = [odelayers.ConcatConv2D(64, 3) for _ in range(2)]

        def call(self, h, t):
            with tf.control_dependencies([counter.assign_add(1)]):
                h = tf.identity(h)
            out = self.convs[0](keras.ops.relu(self.norms[0](h)), t=t)
            return self.norms[2](self.convs[1](keras.ops.relu(self.norms[1](out)), t=t))

    dyn = Dynamics()
    dyn(tf.zeros((1, 18, 18, 64)), t=0.0)  # builds the weights
    # ConcatConv2D's kernel holds the time channel first, as torchdiffeq's.
    for v, p in zip(dyn.trainable_variables, func.params()):
        v.assign(tf_layout(p.detach().numpy()))
    return dyn


class Problem:
    """Both sides: the dynamics with one set of weights, y0, a cotangent, a float64 reference."""

    def __init__(self, batch: int = 32, args=None):
        """``args``: ``--tiny``'s size or the full one, with the float64 reference in ``--out``."""
        batch, self.func, self.ref = ((4 if args.tiny else 32) if args else batch), ODEfunc(), None
        self.y0 = np.random.default_rng(1).standard_normal((batch, 64, 18, 18)).astype("float32")
        self.cot = np.random.default_rng(2).standard_normal(self.y0.shape).astype("float32")
        self.y0_t, self.cot_t = torch.from_numpy(self.y0), torch.from_numpy(self.cot)
        self.y0_tf, self.cot_tf = (tf.constant(tf_layout(a)) for a in (self.y0, self.cot))
        self.counter = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.dyn, self.t_t = keras_dynamics(self.func, self.counter), torch.tensor([0.0, 1.0])
        if diffrax:  # Keras' layout and weights
            self.y0_jax, self.cot_jax = (jnp.asarray(tf_layout(a)) for a in (self.y0, self.cot))
            self.w_jax = [jnp.asarray(v.numpy()) for v in self.dyn.trainable_variables]
        if args:
            self.ref = reference(self, 1e-5 if args.tiny else 1e-7, args.out)

    def check(self) -> float:
        """Max |difference| of one evaluation, PyTorch against Keras and JAX (asserted < 1e-5)."""
        with torch.no_grad():
            want = tf_layout(self.func(torch.tensor(0.5), self.y0_t).numpy())
        got = [np.asarray(self.dyn(self.y0_tf, t=0.5))]
        got += [np.asarray(jax_field(0.5, self.y0_jax, self.w_jax))] if diffrax else []
        for g in got:
            np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-5)
        return max(float(np.abs(g - want).max()) for g in got)

    def error(self, final) -> float:
        """Relative RMS error of a final state (TensorFlow layout) against the reference."""
        y, ref = np.asarray(final, np.float64), self.ref["final"]
        return float(np.sqrt(np.mean((y - ref) ** 2) / np.mean(ref**2)))

    def grad_errors(self, grads) -> dict:
        """Relative L2 errors of d/dy0 and of all d/dweights (TensorFlow layout)."""
        ref = self.ref["grads"]
        flat = [np.concatenate([np.ravel(g) for g in gs[1:]]) for gs in (grads, ref)]
        rel = lambda a, b: float(np.linalg.norm(a - b) / np.linalg.norm(b))  # noqa: E731
        return {"y0": rel(grads[0], ref[0]), "params": rel(*flat)}

    def count(self, call):
        """``call()`` and the dynamics evaluations it made."""
        self.counter.assign(0)
        return call(), int(self.counter.numpy())  # in this order


def reference(p: Problem, tol: float, folder) -> dict:
    """Final state and gradient of sum(y(1) * cot), float64 torchdiffeq dopri5; cached in ``folder``."""
    path, salt = folder / "odeint_reference.npz", (tol, torch.__version__, torchdiffeq.__version__)
    arrays = [p.y0, p.cot, *(q.detach().contiguous().numpy() for q in p.func.params())]
    key = hashlib.sha256(b"".join(a.tobytes() for a in arrays) + repr(salt).encode()).hexdigest()
    if path.exists() and str((cached := np.load(path))["key"]) == key:
        return {"final": cached["final"], "grads": [cached[f"g{i}"] for i in range(11)]}
    f64 = copy.deepcopy(p.func).double().to(memory_format=torch.contiguous_format)
    finals, grads = [], []
    for s in range(0, len(p.y0), REF_CHUNK):
        y0 = torch.from_numpy(p.y0[s : s + REF_CHUNK]).double().requires_grad_(True)
        out = torchdiffeq.odeint(f64, y0, p.t_t.double(), rtol=tol, atol=tol)[-1]
        finals.append(out.detach().numpy())
        loss = (out * torch.from_numpy(p.cot[s : s + REF_CHUNK]).double()).sum()
        grads.append([g.numpy() for g in torch.autograd.grad(loss, [y0, *f64.params()])])
    grads = [np.concatenate(g) if i == 0 else sum(g) for i, g in enumerate(zip(*grads))]
    ref = {"final": tf_layout(np.concatenate(finals)), "grads": [tf_layout(g) for g in grads]}
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(path, key=key, final=ref["final"], **{f"g{i}": g for i, g in enumerate(ref["grads"])})
    return ref


# Each side: forward(p, method, tol, steps) and train(p, method, tol, steps, adjoint) return calls
# giving (final state, NFE) and (gradients, forward NFE, backward NFE) in TensorFlow's layout (ours
# also take ODEBlock's other options). A third library is one more pair in SIDES.
def torch_forward(p: Problem, method="dopri5", tol=BAR_TOL, steps=None):
    options = _torch_options(method, tol, steps)

    def call():
        p.func.nfe = 0
        with torch.no_grad():
            out = torchdiffeq.odeint(p.func, p.y0_t, p.t_t, **options)[-1]
        return tf_layout(out.contiguous().numpy()), p.func.nfe

    return call


def torch_train(p: Problem, method="dopri5", tol=BAR_TOL, steps=None, adjoint=None):
    options = _torch_options(method, tol, steps)
    options |= {"adjoint_options": {"norm": "seminorm"}} if adjoint == "seminorm" else {}
    solve = torchdiffeq.odeint_adjoint if adjoint else torchdiffeq.odeint

    def call():
        p.func.zero_grad(set_to_none=True)
        y0, p.func.nfe = p.y0_t.clone().requires_grad_(True), 0
        out, forward = solve(p.func, y0, p.t_t, **options)[-1], p.func.nfe  # NFE after the solve
        (out * p.cot_t).sum().backward()
        grads = [y0.grad] + [q.grad for q in p.func.params()]
        return [tf_layout(g.contiguous().numpy()) for g in grads], forward, p.func.nfe - forward

    return call


def _torch_options(method, tol, steps):
    if method == "dopri5":
        return {"method": method, "rtol": tol, "atol": tol}
    grid = torch.linspace(0.0, 1.0, steps + 1)  # exactly `steps` equal steps
    return {"method": method, "options": {"grid_constructor": lambda f, y0, t: grid}}


def tf_forward(p: Problem, method="dopri5", tol=BAR_TOL, steps=None, **extra):
    block = odelayers.ODEBlock(p.dyn, **tf_options(method, tol, steps) | extra)
    solve = tf.function(lambda y: block(y))
    return lambda: p.count(lambda: solve(p.y0_tf).numpy())


def tf_train(p: Problem, method="dopri5", tol=BAR_TOL, steps=None, adjoint=None, **extra):
    block = odelayers.ODEBlock(p.dyn, **tf_options(method, tol, steps, adjoint) | extra)

    @tf.function
    def step(y):
        with tf.GradientTape() as tape:
            tape.watch(y)
            loss = tf.reduce_sum(block(y, training=True) * p.cot_tf)
        return tape.gradient(loss, [y] + p.dyn.trainable_variables)

    def call():
        grads, total = p.count(lambda: [g.numpy() for g in step(p.y0_tf)])
        return grads, block.nfe, total - block.nfe

    call.trace = lambda: step.get_concrete_function(p.y0_tf)  # nothing run
    return call


def tf_options(method, tol, steps, adjoint=None):
    options = {"method": method, "gradient": "adjoint" if adjoint else "backprop"}
    options |= {"adjoint_norm": adjoint} if adjoint else {}
    return options | ({"rtol": tol, "atol": tol} if method == "dopri5" else {"num_steps": steps})


def jax_field(t, y, w, count=False):
    """The dynamics in JAX on Keras' layout and weights (kernels HWIO, time channel first)."""
    if count:
        jax.debug.callback(lambda: _NFE.__setitem__(0, _NFE[0] + 1))

    def norm(h, i):
        s = h.reshape(*h.shape[:-1], 32, -1)
        mean, var = s.mean((1, 2, 4), keepdims=True), s.var((1, 2, 4), keepdims=True)
        return ((s - mean) * jax.lax.rsqrt(var + 1e-5)).reshape(h.shape) * w[2 * i] + w[2 * i + 1]

    def conv(h, i):
        h = jnp.concatenate([jnp.full((*h.shape[:-1], 1), t, h.dtype), h], -1)
        out = jax.lax.conv_general_dilated(h, w[6 + 2 * i], (1, 1), "SAME", None, None, DIMS)
        return out + w[7 + 2 * i]

    return norm(conv(jax.nn.relu(norm(conv(jax.nn.relu(norm(y, 0)), 0), 1)), 1), 2)


def _diffrax(method, adjoint, y0, w, x):
    """Final state; ``x``, rtol = atol (dopri5, RMS norm) or the step, is traced: one compilation."""
    pid = lambda **k: diffrax.PIDController(rtol=x, atol=x, **k)  # noqa: E731
    semi = diffrax.BacksolveAdjoint(stepsize_controller=pid(norm=diffrax.adjoint_rms_seminorm))
    grads = {"seminorm": semi, "full": diffrax.BacksolveAdjoint()}  # full: the forward's controller
    term = diffrax.ODETerm(lambda t, y, w: jax_field(t, y, w, True))
    fixed, solver = method != "dopri5", getattr(diffrax, method.capitalize())()
    options = dict(saveat=diffrax.SaveAt(t1=True), args=w, dt0=x if fixed else None)
    options["stepsize_controller"] = diffrax.ConstantStepSize() if fixed else pid()
    options["adjoint"] = grads.get(adjoint, diffrax.RecursiveCheckpointAdjoint())
    return diffrax.diffeqsolve(term, solver, 0.0, 1.0, y0=y0, **options).ys[-1]


def _jax_call(p, key, fn, method, tol, steps):
    """A call of ``fn`` compiled once per key (compile time in ``COMPILE_S``), and its NFE."""
    args = (p.y0_jax, p.w_jax, jnp.float32(tol if method == "dopri5" else 1 / steps), p.cot_jax)
    if key not in _COMPILED:
        start = time.perf_counter()
        _COMPILED[key] = jax.jit(fn).lower(*args).compile()
        COMPILE_S[" ".join(key)] = time.perf_counter() - start

    def call():
        _NFE[0] = 0
        out = jax.block_until_ready(_COMPILED[key](*args))
        jax.effects_barrier()  # every evaluation's callback has run
        return jax.tree.map(np.asarray, out), _NFE[0]

    return call


def jax_forward(p, method="dopri5", tol=None, steps=None):
    solve = lambda y0, w, x, cot: _diffrax(method, None, y0, w, x)  # noqa: E731
    return _jax_call(p, (method, "forward"), solve, method, tol, steps)


def jax_train(p, method="dopri5", tol=None, steps=None, adjoint=None):
    loss = lambda y0, w, x, cot: jnp.sum(_diffrax(method, adjoint, y0, w, x) * cot)  # noqa: E731
    key = (method, adjoint or "checkpoint")
    grad = _jax_call(p, key, jax.grad(loss, (0, 1)), method, tol, steps)
    forward = jax_forward(p, method, tol, steps)()[1]  # the rest is the backward pass's
    return lambda: (lambda g, n: ([g[0], *g[1]], forward, n - forward))(*grad())


SIDES = {OURS: (tf_forward, tf_train), THEIRS: (torch_forward, torch_train)}
SIDES |= {DIFFRAX: (jax_forward, jax_train)} if diffrax else {}


def fewest_steps(p: Problem, forward, method: str, bar: float, limit: int) -> dict:
    """The fewest equal steps (1 .. limit) of ``method`` whose error meets ``bar``; every error scanned."""
    scanned = []
    for n in range(1, limit + 1):
        final, nfe = forward(p, method, steps=n)()
        scanned.append(p.error(final))
        if scanned[-1] <= bar:
            return {"steps": n, "nfe": nfe, "error": scanned[-1], "scanned": scanned}
    return {"steps": None, "nfe": None, "error": None, "scanned": scanned}


def section_dynamics(p: Problem, args) -> tuple[dict, dict, Problem]:
    """One evaluation and VJP per side, PyTorch in both formats; its faster solve's format is kept."""
    calls, half, q, fmt = {}, torch.tensor(0.5), copy.copy(p), torch.channels_last
    q.func = copy.deepcopy(p.func).to(memory_format=fmt)  # PyTorch's module and tensors
    q.y0_t, q.cot_t = (a.contiguous(memory_format=fmt) for a in (p.y0_t, p.cot_t))
    for name, r in (("torch", p), ("torch channels_last", q)):
        y, w = r.y0_t.clone().requires_grad_(True), list(r.func.parameters())
        calls[f"{name} eval"] = lambda r=r: torch.no_grad()(r.func)(half, r.y0_t)
        grad = lambda r=r, y=y, w=w: torch.autograd.grad(r.func(half, y), [y, *w], r.cot_t)  # noqa: E731
        calls[f"{name} vjp"] = grad

    @tf.function
    def vjp(y):
        with tf.GradientTape() as tape:
            tape.watch(y)
            out = p.dyn(y, t=0.5)
        return tape.gradient(out, [y] + p.dyn.trainable_variables, output_gradients=p.cot_tf)

    evaluate = tf.function(lambda y: p.dyn(y, t=0.5))
    calls["ours eval"] = lambda: evaluate(p.y0_tf).numpy()
    calls["ours vjp"] = lambda: [g.numpy() for g in vjp(p.y0_tf)]
    times = C.interleave(calls, max(10, 2 * args.repeats), args.torch_warmup)
    pairs = [(k, t) for k in ("eval", "vjp") for t in ("torch", "torch channels_last")]
    ratios = {f"{k}: ours / {t}": C.ratio(times, f"ours {k}", f"{t} {k}") for k, t in pairs}
    dynamics = {"seconds": {k: C.spread(v) for k, v in times.items()}, "ratios": ratios}
    calls = {"contiguous": torch_forward(p), "channels_last": torch_forward(q)}
    times = C.interleave(calls, max(4, args.repeats // 2), args.torch_warmup)
    # One solve in two layouts differs by float32 rounding alone: how far that moves the error.
    errors = {k: p.error(call()[0]) for k, call in calls.items()}
    faster = min(times, key=lambda k: statistics.median(times[k]))
    gap = abs(errors["channels_last"] - errors["contiguous"]) / errors["contiguous"]
    formats = {"seconds": {k: C.spread(v) for k, v in times.items()}, "faster": faster}
    formats["rounding_gap"] = gap
    return dynamics, formats, q if faster == "channels_last" else p


def section_tolerances(p: Problem, tols) -> dict:
    """The bar, and each side's loosest tolerance whose final-state error meets it."""
    bar = p.error(torch_forward(p)()[0])
    out = {"bar": bar, "threshold": bar * (1 + BAR_SLACK)}
    for side, (forward, _) in SIDES.items():
        scanned = []
        for tol in tols:
            final, nfe = forward(p, tol=tol)()
            scanned.append({"tol": tol, "error": p.error(final), "nfe": nfe})
            if scanned[-1]["error"] <= out["threshold"]:
                break
        else:
            raise SystemExit(f"{side}: no tolerance of {tols} reaches the bar {bar:.3g}")
        out[side] = {**scanned[-1], "scanned": scanned}
    return out


def section_forward(p: Problem, args, tols: dict) -> dict:
    """Forward solves at each side's tolerance."""
    calls, rows = {side: fwd(p, tol=tols[side]["tol"]) for side, (fwd, _) in SIDES.items()}, {}
    for name, call in calls.items():
        final, nfe = call()  # traces ours
        rows[name] = {"tol": tols[name]["tol"], "nfe": nfe, "error": p.error(final)}
    return timed(rows, calls, args, [(OURS, n) for n in calls if n != OURS], args.torch_warmup)


def timed(rows, calls, args, pairs, warmup) -> dict:
    """Time ``calls`` into ``rows`` (PyTorch's warmed up), with per-round ratios of ``pairs``."""
    C.interleave({n: c for n, c in calls.items() if n.startswith(THEIRS)}, 0, warmup)
    times = C.timed(rows, calls, args.repeats)
    return {"rows": rows, "ratios": {f"{a} / {b}": C.ratio(times, a, b) for a, b in pairs}}


def section_adjoint(p: Problem, args, tols: dict) -> dict:
    """Forward + adjoint per side and norm, each at its loosest tolerance meeting the gradient bars."""
    bars = {n: p.grad_errors(torch_train(p, adjoint=n)()[0]) for n in ("seminorm", "full")}
    bars = {n: {k: e * (1 + BAR_SLACK) for k, e in b.items()} for n, b in bars.items()}
    bars["checkpoint"], steps, rows = bars["full"], {}, {}
    for side, adjoint in ((s, a) for s in SIDES for a in ADJOINTS[s]):
        scanned, name = [], f"{side} {adjoint}"
        for tol in (t for t in args.tols if t <= tols[side]["tol"]):
            steps[name] = SIDES[side][1](p, tol=tol, adjoint=adjoint)  # traced, compiled
            start, (grads, forward, backward) = time.perf_counter(), steps[name]()
            once, errors = time.perf_counter() - start, p.grad_errors(grads)
            scanned.append({"tol": tol, "nfe": [forward, backward], "grad_error": errors})
            if met := all(errors[k] <= bars[adjoint][k] for k in errors):
                break
        rows[name] = scanned[-1] | {"meets_bar": met, "once_s": once, "scanned": scanned}
    # diffrax's rows over --prune x torchdiffeq's with that norm are timed once: its backsolve
    # runs the dynamics' VJP in XLA's while loop, several times slower there than alone on CPU.
    side, norm = (lambda n: n.split()[0]), (lambda n: n.split()[1])
    base = lambda n: rows[f"{THEIRS} {norm(n)}".replace("checkpoint", "full")]["once_s"]  # noqa: E731
    slow = lambda n: side(n) == DIFFRAX and rows[n]["once_s"] > args.prune * base(n)  # noqa: E731
    keep, same = [n for n in steps if not slow(n)], lambda a, b: norm(b) in (norm(a), "checkpoint")
    pairs = [(a, b) for a in keep for b in keep if side(a) == OURS != side(b) and same(a, b)]
    timing = timed(rows, {n: steps[n] for n in keep}, args, pairs, args.torch_warmup - 1)
    return timing | {"bars": bars}


def section_fastest(p: Problem, args, tols: dict) -> dict:
    """Each library's fastest training step reaching the bar: fixed steps (fewest), dopri5; backprop."""
    steps = {}
    for side, (forward, train) in SIDES.items():
        for method in FIXED_METHODS[side]:
            n = fewest_steps(p, forward, method, tols["threshold"], args.max_steps)["steps"]
            if n:
                steps[f"{side} {method} x{n}"] = train(p, method, steps=n)
        steps[f"{side} dopri5"] = train(p, tol=tols[side]["tol"])
    rows, side_of = {}, lambda name: name.split()[0]
    for name, step in steps.items():
        _, forward, backward = step()  # traces ours, warms theirs
        once = C.interleave({name: step}, 1, warmup=0)[name][0]
        rows[name] = {"nfe": [forward, backward], "once_s": once}
    best = {s: min(r["once_s"] for n, r in rows.items() if side_of(n) == s) for s in SIDES}
    kept = {n: s for n, s in steps.items() if rows[n]["once_s"] <= args.prune * best[side_of(n)]}
    times = C.timed(rows, kept, args.repeats, warmup=max(0, args.torch_warmup - 2))
    median = lambda n: rows[n]["median"]  # noqa: E731
    fastest = {s: min((n for n in times if side_of(n) == s), key=median) for s in SIDES}
    rival = min((fastest[s] for s in SIDES if s != OURS), key=median)  # the faster of the others
    return {"rows": rows, "fastest": fastest, "ratio": C.ratio(times, fastest[OURS], rival)}


SECTIONS = {"forward": section_forward, "adjoint": section_adjoint, "fastest": section_fastest}


def measure(args) -> dict:
    p, args.torch_warmup = Problem(args=args), 1 if args.tiny else 3
    args.tols, args.max_steps = (TINY_TOLS, 8) if args.tiny else (TOLS, 64)
    res = {"batch": len(p.y0), "sides": list(SIDES), "max_abs_difference": p.check()}
    res["dynamics"], res["torch_format"], p = section_dynamics(p, args)
    res["tolerances"] = tols = section_tolerances(p, args.tols)
    ratios = {}
    for name in args.sections:
        res[name] = SECTIONS[name](p, args, tols)
        C.rows_table(name, res[name]["rows"], ROW_KEYS)
        ratios |= {f"{name}, {k}": r for k, r in res[name].get("ratios", {}).items()}
    if fastest := res.get("fastest"):  # the goal's: ours / the faster of the others
        rivals = ", ".join(v for k, v in fastest["fastest"].items() if k != OURS)
        ratios[f"{fastest['fastest'][OURS]} / the faster of {rivals}"] = fastest["ratio"]
    res["diffrax_compile_s"] = COMPILE_S
    C.table(["diffrax compilation", "s"], list(COMPILE_S.items()))
    C.rows_table("ratio", ratios)
    return res


if __name__ == "__main__":
    options = {"--prune": dict(type=float, default=2.0, help="see section_adjoint, _fastest")}
    options["--sections"] = dict(nargs="+", default=list(SECTIONS), choices=SECTIONS)
    args = C.arguments(__doc__, repeats=7, threads=(1, 2), options=options)
    name = "_".join(["odeint", *([] if args.sections == list(SECTIONS) else args.sections)])
    C.run(args, name, measure, ("torch", "torchdiffeq") + ("jax", "diffrax") * bool(diffrax))
