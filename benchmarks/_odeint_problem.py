"""The problem of ``bench_odeint.py`` and the solves it times on both sides.

``Problem`` holds torchdiffeq's ODE-Net dynamics and their Keras copy with the same
weights, the initial state, a fixed cotangent and a float64 reference; the functions
below build each library's forward solve and training step on it (with NFE counted
by the dynamics).
"""

from __future__ import annotations

RTOL = ATOL = 1e-3
REF_TOL = 1e-8


# ----------------------------------------------------------------------------- setup
class Problem:
    """Both sides of the benchmark: dynamics, initial state, cotangent, reference."""

    def __init__(self, norm: str):
        import _odenet as O
        import numpy as np
        import tensorflow as tf
        import torch

        self.torch_func = O.torch_odefunc()
        y0 = O.torch_initial_state()
        rng = np.random.default_rng(2)
        cot = rng.standard_normal(y0.shape).astype(np.float32)
        self.y0_t = torch.from_numpy(y0)
        self.cot_t = torch.from_numpy(cot)
        self.t_t = torch.tensor([0.0, 1.0])
        weights = O.export_weights(self.torch_func)
        self.weights = weights
        self.y0_tf = tf.constant(O.to_nhwc(y0))
        self.cot_tf = tf.constant(O.to_nhwc(cot))
        # Every TF dynamics counts its evaluations in one variable, as the PyTorch
        # module does in its `nfe` attribute (an increment per call on both sides).
        self.counter = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.tf_func = _CountingTFFunc(O.TFODEFunc(weights, norm="fast"), self.counter)
        self.keras_dyn = {
            n: O.keras_dynamics(weights, norm=n, counter=self.counter) for n in ("fast", "keras")
        }
        self.norm = norm
        self.to_nchw = O.to_nchw

    def check_equivalence(self) -> dict:
        """Max |difference| of one dynamics evaluation, PyTorch vs each TensorFlow version."""
        import numpy as np
        import torch

        with torch.no_grad():
            ref = self.torch_func(torch.tensor(0.5), self.y0_t).numpy()
        outs = {
            "plain TF (fast group norm)": self.tf_func(0.5, self.y0_tf),
            "Keras layer (fast group norm)": self.keras_dyn["fast"](self.y0_tf, t=0.5),
            "Keras layer (keras.layers.GroupNormalization)": self.keras_dyn["keras"](
                self.y0_tf, t=0.5
            ),
        }
        diffs = {}
        for name, out in outs.items():
            out = self.to_nchw(np.asarray(out))
            np.testing.assert_allclose(
                out, ref, rtol=1e-5, atol=1e-5, err_msg=f"{name} differs from PyTorch's ODEfunc"
            )
            diffs[name] = float(np.abs(out - ref).max())
        return diffs

    def reference(self):
        """The final state from float64 dopri5 at rtol = atol = 1e-8 (torchdiffeq), NCHW numpy."""
        import copy

        import torch
        from torchdiffeq import odeint

        f64 = copy.deepcopy(self.torch_func).double()
        with torch.no_grad():
            out = odeint(f64, self.y0_t.double(), self.t_t.double(), rtol=REF_TOL, atol=REF_TOL)
        return out[-1].numpy()

    def error(self, final_state, layout: str) -> float:
        """Relative RMS error of a final state against the reference."""
        import numpy as np

        y = np.asarray(final_state, dtype=np.float64)
        if layout == "nhwc":
            y = self.to_nchw(y)
        return float(np.sqrt(np.mean((y - self.ref) ** 2)) / np.sqrt(np.mean(self.ref**2)))


class _CountingTFFunc:
    """A plain-TF dynamics that counts its evaluations in a shared variable."""

    def __init__(self, func, counter):
        self.func = func
        self.variables = func.variables
        self.count = counter

    def __call__(self, t, y):
        import tensorflow as tf

        with tf.control_dependencies([self.count.assign_add(1)]):
            return self.func(t, tf.identity(y))


def tf_nfe(p: Problem, call) -> tuple:
    """Run ``call`` once; return (its result, the dynamics evaluations it made)."""
    p.counter.assign(0)
    out = call()
    return out, int(p.counter.numpy())


# ---------------------------------------------------------------------- torch side
def torch_forward(p: Problem, method="dopri5", n_steps=None):
    """A no-grad forward solve; returns (final state NCHW numpy, NFE)."""
    import torch
    from torchdiffeq import odeint

    kwargs = _torch_solver_kwargs(method, n_steps)
    p.torch_func.nfe = 0
    with torch.no_grad():
        out = odeint(p.torch_func, p.y0_t, p.t_t, **kwargs)
    return out[-1].numpy(), p.torch_func.nfe


def _torch_solver_kwargs(method, n_steps):
    import torch

    if method == "dopri5":
        return {"method": "dopri5", "rtol": RTOL, "atol": ATOL}
    grid = torch.linspace(0.0, 1.0, n_steps + 1)
    # An explicit grid: exactly n_steps equal steps (step_size=1/n can add a sliver step).
    return {"method": method, "options": {"grid_constructor": lambda f, y0, t: grid}}


def torch_train_step(p: Problem, method="dopri5", n_steps=None, adjoint=False, seminorm=False):
    """One forward + backward (loss = <y(1), cotangent>) w.r.t. y0 and the weights."""
    from torchdiffeq import odeint, odeint_adjoint

    kwargs = _torch_solver_kwargs(method, n_steps)
    if adjoint and seminorm:
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
        loss = (out[-1] * p.cot_t).sum()
        loss.backward()
        return {
            "nfe_forward": forward_nfe,
            "nfe_backward": p.torch_func.nfe - forward_nfe,
            "grads": [y0.grad] + [q.grad for q in params],
        }

    return step


# ------------------------------------------------------------------------- TF side
def tfp_plain_forward(p: Problem, func=None):
    """Plain ``tfp.math.ode.DormandPrince`` (TFP defaults: first step 1e-3), compiled."""
    import tensorflow as tf
    import tensorflow_probability as tfp

    func = func or p.tf_func
    solver = tfp.math.ode.DormandPrince(rtol=RTOL, atol=ATOL)

    @tf.function
    def solve(y0):
        return solver.solve(func, 0.0, y0, solution_times=[1.0]).states[-1]

    return solve


def tfp_plain_train(p: Problem, func=None):
    import tensorflow as tf
    import tensorflow_probability as tfp

    func = func or p.tf_func
    solver = tfp.math.ode.DormandPrince(rtol=RTOL, atol=ATOL)

    @tf.function
    def step(y0):
        with tf.GradientTape() as tape:
            tape.watch(y0)
            y1 = solver.solve(func, 0.0, y0, solution_times=[1.0]).states[-1]
            loss = tf.reduce_sum(y1 * p.cot_tf)
        return tape.gradient(loss, [y0] + func.variables)

    return step


def odeint_forward(p: Problem, func=None, **options):
    import tensorflow as tf

    import odelayers

    func = func or p.tf_func

    @tf.function
    def solve(y0):
        return odelayers.odeint(func, y0, [0.0, 1.0], **options)[-1]

    return solve


def odeint_train(p: Problem, func=None, **options):
    import tensorflow as tf

    import odelayers

    func = func or p.tf_func

    @tf.function
    def step(y0):
        with tf.GradientTape() as tape:
            tape.watch(y0)
            y1 = odelayers.odeint(func, y0, [0.0, 1.0], **options)[-1]
            loss = tf.reduce_sum(y1 * p.cot_tf)
        return tape.gradient(loss, [y0] + func.variables)

    return step


def block_for(p: Problem, norm: str, **options):
    """An ODEBlock on the (weight-shared) Keras dynamics, built on the problem's shape."""
    import odelayers

    block = odelayers.ODEBlock(p.keras_dyn[norm], t0=0.0, t1=1.0, **options)
    block.build(p.y0_tf.shape)
    return block


def block_forward(block):
    import tensorflow as tf

    return tf.function(lambda y0: block(y0))


def block_train(p: Problem, block):
    import tensorflow as tf

    @tf.function
    def step(y0):
        with tf.GradientTape() as tape:
            tape.watch(y0)
            loss = tf.reduce_sum(block(y0, training=True) * p.cot_tf)
        return tape.gradient(loss, [y0] + ordered_weights(block.dynamics))

    return step


def _tf_options(method, n_steps, gradient):
    if method == "dopri5":
        return {"method": "dopri5", "rtol": RTOL, "atol": ATOL, "gradient": gradient}
    return {"method": method, "num_steps": n_steps, "gradient": gradient}


def ordered_weights(dyn) -> list:
    """The Keras dynamics' variables in the order of ``torch_func.parameters()``."""
    out = []
    for layer in (dyn.norm1, dyn.conv1, dyn.norm2, dyn.conv2, dyn.norm3):
        if hasattr(layer, "gamma"):
            out += [layer.gamma, layer.beta]
        else:
            out += [layer.conv.kernel, layer.conv.bias]
    return out


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
    lo = n  # fails
    hi = n
    while not ok(hi):
        if hi >= limit:
            return None, None
        lo, hi = hi, min(2 * hi, limit)
    while hi - lo > 1:  # lo fails, hi passes
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi, cache[hi]


def bar_errors(p: Problem) -> dict:
    """Final-state errors of both dopri5 forward solves at rtol = atol = 1e-3 (cached)."""
    if not hasattr(p, "_dopri5_errors"):
        p._dopri5_errors = {
            "theirs": p.error(torch_forward(p)[0], "nchw"),
            "ours": p.error(
                odeint_forward(p, method="dopri5", rtol=RTOL, atol=ATOL)(p.y0_tf), "nhwc"
            ),
        }
    return p._dopri5_errors
