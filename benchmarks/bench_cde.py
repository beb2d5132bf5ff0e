"""``odelayers.cdeint`` against torchcde: a neural CDE (same MLP field and weights) on hermite and
natural cubic paths, dopri5 at equal final-state error; forward, forward + backward timed."""

import _common as C
import numpy as np
import tensorflow as tf
import torch
import torchcde
from bench_odeint import BAR_SLACK, BAR_TOL, ROW_KEYS, TINY_TOLS, TOLS

import odelayers

PATHS = {"hermite": torchcde.hermite_cubic_coefficients_with_backward_differences}
PATHS["natural"], HIDDEN, WIDTH = torchcde.natural_cubic_coeffs, 32, 64
MODES = ("forward", "forward + backward")


class Problem:
    """``func(t, z) = tanh(relu(z W1 + b1) W2 + b2)`` as [B, H, C], a path, z0, a cotangent."""

    def __init__(self, batch: int, length: int, channels: int = 3):
        rng, self.shape = np.random.default_rng(0), (-1, HIDDEN, channels)
        self.t = np.linspace(0.0, 1.0, length)
        walk = np.cumsum(rng.standard_normal((batch, length, channels - 1)), 1) / length**0.5
        self.x = np.concatenate([np.broadcast_to(self.t[:, None], (batch, length, 1)), walk], -1)
        self.z0, self.cot = rng.standard_normal((2, batch, HIDDEN))
        shapes = [(HIDDEN, WIDTH), (WIDTH,), (WIDTH, HIDDEN * channels), (HIDDEN * channels,)]
        self.w = [rng.standard_normal(s) / s[0] ** 0.5 for s in shapes]
        self.tf_w = [tf.Variable(w.astype("float32")) for w in self.w]

    def tf_func(self, t, z):
        w = self.tf_w
        return tf.reshape(tf.tanh(tf.nn.relu(z @ w[0] + w[1]) @ w[2] + w[3]), self.shape)

    def torch_func(self, w):
        return lambda t, z: torch.tanh(torch.relu(z @ w[0] + w[1]) @ w[2] + w[3]).view(*self.shape)

    def check(self) -> float:
        """Max |difference| of one field evaluation, PyTorch against TensorFlow (< 1e-5)."""
        w, z = [torch.tensor(w, dtype=torch.float32) for w in self.w], self.z0.astype("float32")
        want = self.torch_func(w)(0.5, torch.from_numpy(z)).numpy()
        got = self.tf_func(0.5, tf.constant(z)).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        return float(np.abs(got - want).max())


def torch_solve(p: Problem, path: str, tol: float, grad: bool, dtype=torch.float32):
    """A call: final state and, with ``grad``, d/dz0, d/dweights (float64: backprop, the reference)."""
    t, x, z0, cot = (torch.tensor(a, dtype=dtype) for a in (p.t, p.x, p.z0, p.cot))
    spline, adjoint = torchcde.CubicSpline(PATHS[path](x, t), t), grad and dtype == torch.float32
    w = [torch.tensor(w, dtype=dtype, requires_grad=grad) for w in p.w]
    options = dict(method="dopri5", rtol=tol, atol=tol, adjoint=adjoint)
    options |= {"adjoint_params": tuple(w)} if adjoint else {}

    def call():
        z = z0.clone().requires_grad_(grad)
        out = torchcde.cdeint(spline, p.torch_func(w), z, spline.interval, **options)[:, -1]
        grads = torch.autograd.grad((out * cot).sum(), [z, *w]) if grad else ()
        return out.detach().numpy(), [g.numpy() for g in grads]

    return call


def tf_solve(p: Problem, path: str, tol: float, grad: bool):
    x, z0, cot = (tf.constant(a.astype("float32")) for a in (p.x, p.z0, p.cot))
    options = dict(method="dopri5", rtol=tol, atol=tol, gradient="adjoint", adjoint_norm="full")

    @tf.function
    def solve(z):  # without ``grad`` the graph holds no gradient
        with tf.GradientTape() as tape:
            tape.watch(z)
            out = odelayers.cdeint(p.tf_func, z, p.t, x, interpolation=path, **options)
            loss = tf.reduce_sum(out * cot)
        return out, tape.gradient(loss, [z, *p.tf_w]) if grad else []

    return lambda: tf.nest.map_structure(np.asarray, solve(z0))


def section(p: Problem, path: str, args) -> dict:
    """The bar, each side's tolerance meeting it, forward and forward + backward timed."""
    ref, ref_grads = torch_solve(p, path, 1e-9, True, torch.float64)()  # float64 at 1e-9
    error = lambda y, r: float(np.linalg.norm(y - r) / np.linalg.norm(r))  # noqa: E731
    out = {"bar": error(torch_solve(p, path, BAR_TOL, False)()[0], ref), "rows": {}}
    calls, threshold = {}, out["bar"] * (1 + BAR_SLACK)
    for side, solve in {"odelayers": tf_solve, "torchcde": torch_solve}.items():
        for tol in TINY_TOLS if args.tiny else TOLS:
            if (err := error(solve(p, path, tol, False)()[0], ref)) <= threshold:
                break
        for mode in MODES:
            calls[f"{side} {mode}"] = call = solve(p, path, tol, mode != "forward")
            _, g = call()  # traces ours
            row = {"tol": tol, "error": err, "meets_bar": err <= threshold}
            if g:
                flat = [np.concatenate([a.ravel() for a in gs[1:]]) for gs in (g, ref_grads)]
                row["grad_error"] = {"z0": error(g[0], ref_grads[0]), "params": error(*flat)}
            out["rows"][f"{side} {mode}"] = row
    times = C.timed(out["rows"], calls, args.repeats, warmup=1)
    out["ratios"] = {m: C.ratio(times, f"odelayers {m}", f"torchcde {m}") for m in MODES}
    C.rows_table(path, out["rows"], ROW_KEYS)
    return out


def measure(args) -> dict:
    p = Problem(4 if args.tiny else 32, 16 if args.tiny else 64)
    res = {"batch": len(p.x), "length": len(p.t), "hidden": HIDDEN, "max_abs_difference": p.check()}
    res |= {path: section(p, path, args) for path in PATHS}
    C.rows_table("ratio", {f"{path}, {m}": res[path]["ratios"][m] for path in PATHS for m in MODES})
    return res


if __name__ == "__main__":
    args = C.arguments(__doc__, repeats=9, threads=(1, 2))
    C.run(args, "cde", measure, ("torch", "torchdiffeq", "torchcde"))
