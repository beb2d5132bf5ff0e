"""``odelayers.cdeint`` against torchcde: a neural CDE with the same MLP vector field and weights,
the same path (hermite: torchcde's cubic Hermite with backward differences; natural: its natural
cubic spline), dopri5, each side at the loosest tolerance whose final-state error meets torchcde's
at 1e-3. Timed: forward, forward + backward (each library's adjoint, full norm); ratios ours /
theirs."""

from __future__ import annotations

import _common as C
import numpy as np
import tensorflow as tf
import torch
import torchcde
from bench_odeint import BAR_SLACK, BAR_TOL, TOLS

import odelayers

PATHS = {"hermite": torchcde.hermite_cubic_coefficients_with_backward_differences}
PATHS["natural"] = torchcde.natural_cubic_coeffs
HIDDEN, WIDTH = 32, 64


class Problem:
    """An MLP field ``tanh(W2 relu(W1 z + b1) + b2)`` as [B, H, C], a path of C channels
    (time first), z0 and a cotangent, in both frameworks with one set of numbers."""

    def __init__(self, batch: int, length: int, channels: int = 3):
        rng = np.random.default_rng(0)
        self.t = np.linspace(0.0, 1.0, length)
        walk = np.cumsum(rng.standard_normal((batch, length, channels - 1)), 1) / length**0.5
        self.x = np.concatenate([np.broadcast_to(self.t[:, None], (batch, length, 1)), walk], -1)
        self.z0 = rng.standard_normal((batch, HIDDEN))
        self.cot = rng.standard_normal((batch, HIDDEN))
        shapes = [(HIDDEN, WIDTH), (WIDTH,), (WIDTH, HIDDEN * channels), (HIDDEN * channels,)]
        self.w = [rng.standard_normal(s) / s[0] ** 0.5 for s in shapes]
        self.channels, self.torch_w = (
            channels,
            [torch.tensor(w, dtype=torch.float32) for w in self.w],
        )
        self.tf_w = [tf.Variable(w.astype("float32")) for w in self.w]

    def torch_func(self, w=None):
        w = w or self.torch_w
        shape = (-1, HIDDEN, self.channels)
        return lambda t, z: torch.tanh(torch.relu(z @ w[0] + w[1]) @ w[2] + w[3]).view(*shape)

    def tf_func(self, t, z):
        w, shape = self.tf_w, (-1, HIDDEN, self.channels)
        return tf.reshape(tf.tanh(tf.nn.relu(z @ w[0] + w[1]) @ w[2] + w[3]), shape)

    def check(self) -> float:
        """Max |difference| of one field evaluation, PyTorch against TensorFlow (< 1e-5)."""
        z = self.z0.astype("float32")
        want = self.torch_func()(0.5, torch.from_numpy(z)).numpy()
        got = self.tf_func(0.5, tf.constant(z)).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        return float(np.abs(got - want).max())

    def error(self, final, ref) -> float:
        return float(np.sqrt(np.mean((np.asarray(final, np.float64) - ref) ** 2) / np.mean(ref**2)))


def torch_solve(p: Problem, path: str, tol: float, grad: bool, dtype=torch.float32, w=None):
    """A call giving the final state (and with ``grad`` d/dz0, d/dweights of sum(z(1) * cot))."""
    t, x = torch.tensor(p.t, dtype=dtype), torch.tensor(p.x, dtype=dtype)
    spline = torchcde.CubicSpline(PATHS[path](x, t), t)
    w = w or p.torch_w
    z0, cot = (torch.tensor(a, dtype=dtype) for a in (p.z0, p.cot))
    adjoint = grad and dtype == torch.float32  # the reference: backprop
    options = dict(method="dopri5", rtol=tol, atol=tol, adjoint=adjoint)

    def call():
        params = [q.requires_grad_(grad) for q in w]
        z = z0.clone().requires_grad_(grad)
        extra = {"adjoint_params": tuple(params)} if adjoint else {}
        out = torchcde.cdeint(spline, p.torch_func(params), z, spline.interval, **options, **extra)
        out = out[:, -1]
        if not grad:
            return out.detach().numpy()
        return out.detach().numpy(), [
            g.numpy() for g in torch.autograd.grad((out * cot).sum(), [z, *params])
        ]

    return call


def tf_solve(p: Problem, path: str, tol: float, grad: bool):
    x, z0, cot = (tf.constant(a.astype("float32")) for a in (p.x, p.z0, p.cot))
    options = dict(method="dopri5", rtol=tol, atol=tol, gradient="adjoint", adjoint_norm="full")

    @tf.function
    def solve(z):
        if not grad:
            return odelayers.cdeint(p.tf_func, z, p.t, x, interpolation=path, **options)
        with tf.GradientTape() as tape:
            tape.watch(z)
            out = odelayers.cdeint(p.tf_func, z, p.t, x, interpolation=path, **options)
            loss = tf.reduce_sum(out * cot)
        return out, tape.gradient(loss, [z, *p.tf_w])

    return lambda: tf.nest.map_structure(np.asarray, solve(z0))


SIDES = {"odelayers": tf_solve, "torchcde": torch_solve}


def reference(p: Problem, path: str) -> tuple:
    """float64 torchcde dopri5 at 1e-9, backprop: the final state and the gradients."""
    return torch_solve(p, path, 1e-9, True, torch.float64, [q.double() for q in p.torch_w])()


def grad_errors(grads, ref) -> dict:
    rel = lambda a, b: float(np.linalg.norm(a - b) / np.linalg.norm(b))  # noqa: E731
    flat = [np.concatenate([np.ravel(g) for g in gs[1:]]) for gs in (grads, ref)]
    return {"z0": rel(grads[0], ref[0]), "params": rel(*flat)}


def section(p: Problem, path: str, args) -> dict:
    """Tolerances at equal final-state error, then forward and forward + backward timed."""
    ref_final, ref_grads = reference(p, path)
    bar = p.error(torch_solve(p, path, BAR_TOL, False)(), ref_final)
    out = {"bar": bar, "tols": {}, "rows": {}}
    for side, solve in SIDES.items():
        for tol in args.tols:
            err = p.error(solve(p, path, tol, False)(), ref_final)
            if err <= bar * (1 + BAR_SLACK):
                break
        out["tols"][side] = {"tol": tol, "error": err, "meets_bar": err <= bar * (1 + BAR_SLACK)}
    calls = {}
    for side, solve in SIDES.items():
        for grad in (False, True):
            calls[f"{side} {'forward + backward' if grad else 'forward'}"] = call = solve(
                p, path, out["tols"][side]["tol"], grad
            )
            result = call()  # traces ours
            if grad:
                out["rows"][f"{side} forward + backward"] = {
                    "grad_error": grad_errors(result[1], ref_grads)
                }
    times = C.interleave(calls, args.repeats, warmup=1)
    for name in calls:
        out["rows"][name] = out["rows"].get(name, {}) | C.spread(times[name])
    out["ratios"] = {
        k: C.ratio(times, f"odelayers {k}", f"torchcde {k}")
        for k in ("forward", "forward + backward")
    }
    return out


def measure(args) -> dict:
    p = Problem(4 if args.tiny else 32, 16 if args.tiny else 64)
    args.tols = (2e-3, 1e-3, 5e-4) if args.tiny else TOLS
    res = {"batch": len(p.x), "length": len(p.t), "hidden": HIDDEN, "max_abs_difference": p.check()}
    table = []
    for path in PATHS:
        res[path] = r = section(p, path, args)
        for k, ratio in r["ratios"].items():
            table.append(
                [
                    f"{path}, {k}",
                    *(r["tols"][s]["tol"] for s in SIDES),
                    ratio["median"],
                    ratio["min"],
                    ratio["max"],
                ]
            )
    C.table(["ours / torchcde", "tol ours", "tol torchcde", "median", "min", "max"], table)
    return res


def main(argv=None):
    args = C.parser(__doc__, repeats=9, threads=(1, 2)).parse_args(argv)
    if args.tiny:
        args.repeats = 2
    C.run(args, "cde", measure, ("torch", "torchcde"))


if __name__ == "__main__":
    main()
