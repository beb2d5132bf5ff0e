"""The problem of ``bench_odeint.py``: both sides' dynamics, the reference, the solves.

``Problem`` holds torchdiffeq's ODE-Net dynamics and a Keras copy built from what
odelayers ships (``odelayers.ConcatConv2D``, ``odelayers.GroupNormalization``) with
the same weights, the initial state, a fixed cotangent (the loss is
``sum(h(1) * cotangent)``) and a float64 reference for the final state and the
gradient. The functions below build each library's forward solve and training step
(NFE counted by the dynamics on both sides).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

# The error bar is torchdiffeq dopri5's final-state error at this tolerance.
BAR_TOL = 1e-3
# An error within 1% of the bar meets it: with the same steps the two sides' errors
# differ by float32 rounding only (3e-6 relative in a smoke run; each run reports the
# gap between PyTorch's two memory formats), which must not decide a tie; one grid
# step moves the error by ~30% (2.5e-3 at 1e-3, 1.7e-3 at 5e-4).
BAR_SLACK = 0.01
# rtol = atol candidates, loosest first: each side runs at the loosest one reaching the bar.
TOL_GRID = (3e-3, 2e-3, 1.5e-3, 1e-3, 7e-4, 5e-4, 3e-4, 2e-4, 1e-4)
QUICK_TOL_GRID = (2e-3, 1e-3, 5e-4)
# float64 dopri5 takes 98 NFE at 1e-6 and 518 at 1e-8 on the whole batch; 1e-7 keeps
# the reference (computed once per --out folder, then cached) to a few minutes.
REF_TOL = 1e-7
QUICK_REF_TOL = 1e-6
REF_CHUNK = 4  # examples per float64 backprop solve (memory: ~5 MB per evaluation)
REF_FILE = "odeint_reference.npz"


# ----------------------------------------------------------------------------- setup
def shipped_dynamics(weights: dict, counter=None, norm_cls=None, groups=32):
    """The ODE-Net dynamics as a Keras layer of odelayers' layers, with ``weights``.

    ``norm_cls`` defaults to ``odelayers.GroupNormalization`` (``keras.layers.
    GroupNormalization`` gives the extra labelled row). ``counter`` (an int64
    ``tf.Variable``) counts evaluations, as the PyTorch module's ``nfe`` does.
    """
    import _odenet as O

    import odelayers

    return O.keras_dynamics(
        weights, groups=groups, counter=counter, norm_cls=norm_cls or odelayers.GroupNormalization
    )


def ordered_weights(dyn) -> list:
    """The Keras dynamics' variables in the order of the torch module's ``parameters()``."""
    out = []
    for layer in (dyn.norm1, dyn.conv1, dyn.norm2, dyn.conv2, dyn.norm3):
        if hasattr(layer, "gamma"):
            out += [layer.gamma, layer.beta]
        else:
            out += [layer.conv.kernel, layer.conv.bias]
    return out


class Problem:
    """Both sides of the benchmark: dynamics, initial state, cotangent, reference."""

    def __init__(self):
        import _odenet as O
        import keras
        import numpy as np
        import tensorflow as tf
        import torch

        self.torch_func = O.torch_odefunc()
        self.torch_format = "contiguous"
        y0 = O.torch_initial_state()
        cot = np.random.default_rng(2).standard_normal(y0.shape).astype(np.float32)
        self.y0_np, self.cot_np = y0, cot
        self.y0_t, self.cot_t = torch.from_numpy(y0), torch.from_numpy(cot)
        self.t_t = torch.tensor([0.0, 1.0])
        self.weights = O.export_weights(self.torch_func)
        self.y0_tf, self.cot_tf = tf.constant(O.to_nhwc(y0)), tf.constant(O.to_nhwc(cot))
        # Every TF dynamics counts its evaluations in one variable (held in a closure,
        # not a weight), as the PyTorch module does in its `nfe` attribute.
        self.counter = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.dyn = shipped_dynamics(self.weights, self.counter)
        self.dyn_keras_gn = shipped_dynamics(
            self.weights, self.counter, keras.layers.GroupNormalization
        )
        self.ref = None

    def use_channels_last(self) -> None:
        """Switch the PyTorch side (module, state, cotangent) to channels_last."""
        import torch

        cl = torch.channels_last
        self.torch_func = self.torch_func.to(memory_format=cl)
        self.y0_t = self.y0_t.contiguous(memory_format=cl)
        self.cot_t = self.cot_t.contiguous(memory_format=cl)
        self.torch_format = "channels_last"

    def check_equivalence(self) -> dict:
        """Max |difference| of one evaluation, PyTorch vs each Keras dynamics (asserted)."""
        import _odenet as O
        import numpy as np
        import torch

        with torch.no_grad():
            ref = self.torch_func(torch.tensor(0.5), self.y0_t).numpy()
        diffs = {}
        for name, dyn in (
            ("odelayers layers (shipped)", self.dyn),
            ("keras.layers.GroupNormalization", self.dyn_keras_gn),
        ):
            out = O.to_nchw(np.asarray(dyn(self.y0_tf, t=0.5)))
            np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5, err_msg=name)
            diffs[name] = float(np.abs(out - ref).max())
        return diffs

    def error(self, final_state, layout: str) -> float:
        """Relative RMS error of a float32 final state against the reference."""
        import _odenet as O
        import numpy as np

        y = np.asarray(final_state, dtype=np.float64)
        y = O.to_nchw(y) if layout == "nhwc" else y
        ref = self.ref["final"]
        return float(np.sqrt(np.mean((y - ref) ** 2)) / np.sqrt(np.mean(ref**2)))

    def grad_errors(self, grads, layout: str) -> dict:
        """Relative L2 errors of d/dy0 and of all d/dparams (concatenated) vs the reference."""
        import numpy as np

        if layout == "torch":
            grads = torch_grads_to_tf(grads, self.dyn.time_index)
        grads = [np.asarray(g, dtype=np.float64) for g in grads]
        ref = self.ref["grads"]

        def rel(a, b):
            return float(np.linalg.norm(a - b) / np.linalg.norm(b))

        flat = [np.concatenate([g.ravel() for g in gs[1:]]) for gs in (grads, ref)]
        return {"y0": rel(grads[0], ref[0]), "params": rel(*flat)}


def torch_grads_to_tf(grads, time_index: int) -> list:
    """PyTorch gradients [y0, params...] as numpy arrays in the Keras layout."""
    import _odenet as O
    import numpy as np

    out = [O.to_nhwc(grads[0].detach().contiguous().numpy())]
    for g in grads[1:]:
        g = g.detach().contiguous().numpy()
        if g.ndim == 4:
            g = np.transpose(g, (2, 3, 1, 0))
            if time_index != 0:
                g = np.concatenate([g[:, :, 1:, :], g[:, :, :1, :]], axis=2)
        out.append(g)
    return out


def reference(p: Problem, tol: float, cache_dir: Path) -> dict:
    """Final state and gradient from float64 torchdiffeq dopri5 at rtol = atol = ``tol``.

    The gradient of sum(h(1) * cotangent) is backprop through the float64 solve.
    Group norm and the convolutions act on each example alone, so the batch is
    solved in chunks of ``REF_CHUNK`` examples (each to the same tolerance, so no
    less accurate than one solve): backprop through a whole-batch float64 solve
    would hold ~40 MB per evaluation, and a float64 full-norm adjoint takes many
    minutes. Cached in ``cache_dir/odeint_reference.npz`` under a key of the
    inputs, the tolerance and the versions.
    """
    import copy

    import numpy as np
    import torch
    import torchdiffeq

    h = hashlib.sha256()
    for a in (p.y0_np, p.cot_np, *(p.weights[k] for k in sorted(p.weights))):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(f"{tol!r} {REF_CHUNK} {torch.__version__} {torchdiffeq.__version__}".encode())
    key = h.hexdigest()
    path = Path(cache_dir) / REF_FILE
    if path.exists():
        data = np.load(path)
        if str(data["key"]) == key:
            n = int(data["n_grads"])
            grads = [data[f"g{i}"] for i in range(n)]
            return _ref_dict(data["final"], grads, data["nfe"].tolist(), tol, cached=True)
    f64 = copy.deepcopy(p.torch_func).double().to(memory_format=torch.contiguous_format)
    params = list(f64.parameters())
    cot = torch.from_numpy(p.cot_np).double()
    finals, g_y0, g_params, nfe = [], [], [torch.zeros_like(q) for q in params], []
    for s in range(0, len(p.y0_np), REF_CHUNK):
        y0 = torch.from_numpy(p.y0_np[s : s + REF_CHUNK]).double().requires_grad_(True)
        f64.nfe = 0
        out = torchdiffeq.odeint(f64, y0, p.t_t.double(), rtol=tol, atol=tol)[-1]
        nfe.append(f64.nfe)
        grads = torch.autograd.grad((out * cot[s : s + REF_CHUNK]).sum(), [y0] + params)
        finals.append(out.detach().numpy())
        g_y0.append(grads[0])
        g_params = [a + b for a, b in zip(g_params, grads[1:])]
    grads = torch_grads_to_tf([torch.cat(g_y0)] + g_params, p.dyn.time_index)
    final = np.concatenate(finals)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        key=key,
        final=final,
        n_grads=len(grads),
        nfe=np.array(nfe),
        **{f"g{i}": g for i, g in enumerate(grads)},
    )
    return _ref_dict(final, grads, nfe, tol, cached=False)


def _ref_dict(final, grads, nfe, tol, cached) -> dict:
    return {
        "final": final,
        "grads": grads,
        "tol": tol,
        "chunk": REF_CHUNK,
        "nfe_per_chunk": [int(n) for n in nfe],
        "cached": cached,
    }


def tf_nfe(p: Problem, call) -> tuple:
    """Run ``call`` once; return (its result, the dynamics evaluations it made)."""
    p.counter.assign(0)
    out = call()
    return out, int(p.counter.numpy())


# ---------------------------------------------------------------------- torch side
def _torch_solver_kwargs(method, tol, n_steps):
    import torch

    if method == "dopri5":
        return {"method": "dopri5", "rtol": tol, "atol": tol}
    grid = torch.linspace(0.0, 1.0, n_steps + 1)
    # An explicit grid: exactly n_steps equal steps (step_size=1/n can add a sliver step).
    return {"method": method, "options": {"grid_constructor": lambda f, y0, t: grid}}


def torch_forward(p: Problem, method="dopri5", tol=BAR_TOL, n_steps=None):
    """A no-grad forward solve; returns (final state NCHW numpy, NFE)."""
    import torch
    from torchdiffeq import odeint

    p.torch_func.nfe = 0
    with torch.no_grad():
        out = odeint(p.torch_func, p.y0_t, p.t_t, **_torch_solver_kwargs(method, tol, n_steps))
    return out[-1].contiguous().numpy(), p.torch_func.nfe


def torch_train_step(p: Problem, method="dopri5", tol=BAR_TOL, n_steps=None, adjoint=None):
    """One forward + backward of sum(y(1) * cotangent) w.r.t. y0 and the weights.

    ``adjoint``: None (backprop through the solver), "full" (torchdiffeq's default
    adjoint) or "seminorm" (``adjoint_options=dict(norm="seminorm")``).
    """
    from torchdiffeq import odeint, odeint_adjoint

    kwargs = _torch_solver_kwargs(method, tol, n_steps)
    if adjoint == "seminorm":
        kwargs["adjoint_options"] = {"norm": "seminorm"}
    solve = odeint_adjoint if adjoint else odeint
    params = list(p.torch_func.parameters())

    def step():
        for q in params:
            q.grad = None
        y0 = p.y0_t.clone().requires_grad_(True)
        p.torch_func.nfe = 0
        out = solve(p.torch_func, y0, p.t_t, **kwargs)
        forward_nfe = p.torch_func.nfe
        (out[-1] * p.cot_t).sum().backward()
        return {
            "nfe_forward": forward_nfe,
            "nfe_backward": p.torch_func.nfe - forward_nfe,
            "grads": [y0.grad] + [q.grad for q in params],
        }

    return step


# ------------------------------------------------------------------------- TF side
def block_for(p: Problem, dyn=None, **options):
    """An ODEBlock (t in [0, 1]) on the shared Keras dynamics, options via SolverOptions."""
    import odelayers

    block = odelayers.ODEBlock(
        dyn or p.dyn, t0=0.0, t1=1.0, options=odelayers.SolverOptions(**options)
    )
    block.build(p.y0_tf.shape)
    return block


def block_forward(block):
    """A compiled forward solve returning the final state as numpy (synchronised)."""
    import tensorflow as tf

    fn = tf.function(lambda y0: block(y0))
    return lambda y0: fn(y0).numpy()


def block_train(p: Problem, block):
    """A compiled training step; returns numpy gradients [y0] + weights (torch order)."""
    import tensorflow as tf

    @tf.function
    def step(y0):
        with tf.GradientTape() as tape:
            tape.watch(y0)
            loss = tf.reduce_sum(block(y0, training=True) * p.cot_tf)
        return tape.gradient(loss, [y0] + ordered_weights(block.dynamics))

    return lambda: [g.numpy() for g in step(p.y0_tf)]


# ------------------------------------------------------------------------- searches
def loosest_tol(error_of, bar: float, grid) -> dict:
    """The loosest tolerance of ``grid`` (loosest first) with error_of(tol) <= bar.

    Stops at the first passing tolerance (tighter ones cost more and cannot be
    the fastest). Returns {"tol", "error", "scanned": {tol: error}}; tol None if none.
    """
    scanned = {}
    for tol in grid:
        scanned[tol] = error_of(tol)
        if scanned[tol] <= bar:
            return {"tol": tol, "error": scanned[tol], "scanned": scanned}
    return {"tol": None, "error": None, "scanned": scanned}


def fewest_steps(error_of, bar: float, start: int = 1, limit: int = 64):
    """Fewest steps n <= limit with error_of(n) <= bar, searching from ``start``.

    Errors fall monotonically with n for these methods, so: walk down from ``start``
    while it still passes, else double up to a passing n and bisect. Returns
    (n, error) or (None, None) when even ``limit`` steps do not reach the bar.
    """
    cache = {}

    def ok(n):
        if n not in cache:
            cache[n] = error_of(n)
        return cache[n] <= bar

    n = max(1, min(start, limit))
    if ok(n):
        while n > 1 and ok(n - 1):
            n -= 1
        return n, cache[n]
    lo = hi = n
    while not ok(hi):
        if hi >= limit:
            return None, None
        lo, hi = hi, min(2 * hi, limit)
    while hi - lo > 1:  # lo fails, hi passes
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi, cache[hi]
