"""bench_odeint's third side: the same dynamics in JAX, solved by diffrax (where installed)."""

from __future__ import annotations

import os
import time

import numpy as np

os.environ.setdefault("JAX_PLATFORMS", "cpu")
try:
    import diffrax
    import jax
    import jax.numpy as jnp
except ImportError:
    diffrax = jax = jnp = None

BAR_TOL = 1e-3


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


_NFE, _COMPILED, COMPILE_S, DIMS = [0], {}, {}, ("NHWC", "HWIO", "NHWC")


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


def jax_forward(p, method="dopri5", tol=BAR_TOL, steps=None):
    solve = lambda y0, w, x, cot: _diffrax(method, None, y0, w, x)  # noqa: E731
    return _jax_call(p, (method, "forward"), solve, method, tol, steps)


def jax_train(p, method="dopri5", tol=BAR_TOL, steps=None, adjoint=None):
    loss = lambda y0, w, x, cot: jnp.sum(_diffrax(method, adjoint, y0, w, x) * cot)  # noqa: E731
    key = (method, adjoint or "checkpoint")
    grad = _jax_call(p, key, jax.grad(loss, (0, 1)), method, tol, steps)
    forward = jax_forward(p, method, tol, steps)()[1]  # the rest is the backward pass's
    return lambda: (lambda g, n: ([g[0], *g[1]], forward, n - forward))(*grad())
