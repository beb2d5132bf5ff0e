"""Levers for the ODE layer's speed, each measured against the shipped behaviour.

Same problem as ``bench_odeint.py`` (ODE-Net dynamics, 18x18x64, batch 32, dopri5,
rtol = atol = 1e-3). Every lever is timed interleaved with the baseline in this one
process; NFE is counted by the dynamics; accuracy is the relative RMS error of the
final state against a float64 reference (as in ``bench_odeint.py``).

Levers:

* ``first step``: Hairer's automatic first step (odelayers' default) vs TFP's fixed 1e-3.
* ``error norm``: TFP's step controller squares the scaled errors twice
  (``error_ratio = sqrt(mean((err/tol)**4))``, see ``tfp.math.ode.DormandPrince._step``:
  ``scale_errors`` squares and ``nest_rms_norm`` squares again), then scales steps by
  ``ratio**(-1/6)``. SciPy and torchdiffeq use ``rms(err/tol)`` and ``ratio**(-1/5)``.
  odelayers' default ``error_norm="rms"``: the RMS norm with the SciPy exponent;
  ``error_norm="tfp"`` keeps TFP's.
* ``adjoint norm``: odelayers' default seminorm (the backward solve's error norm over
  the state and its adjoint only, leaving out the parameter-gradient integrals; Kidger,
  Chen & Lyons 2021, "Hey, that's not an ODE"; torchdiffeq's
  ``adjoint_options=dict(norm="seminorm")``) against ``adjoint_norm="full"``, TFP's own
  adjoint, and TFP's error norm (``error_norm="tfp"``) with the seminorm.
* ``parallel_iterations``: odelayers builds its solver loops with 1; TensorFlow's
  default 10 lets the executor run ahead into later loop iterations and keep more
  state-sized buffers alive. Peak memory (TF allocator) and time of both.
* ``compile once per shape``: the cost of tracing a training step with an ODEBlock,
  paid again whenever the batch shape changes (e.g. a last partial batch);
  ``reduce_retracing`` makes the second shape's trace batch-polymorphic.
* ``XLA``: ``tf.function(jit_compile=True)`` around the forward solve.

Run: ``python benchmarks/bench_ode_levers.py`` (about 10 minutes).
"""

from __future__ import annotations

import argparse
import sys
import time

import _harness as H

RTOL = ATOL = 1e-3


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    H.add_common_arguments(parser)
    parser.add_argument(
        "--adjoint-reps",
        type=int,
        default=2,
        help="repetitions of the (slow) adjoint training steps (default 2)",
    )
    args = parser.parse_args(argv)
    if args.reps is None:
        args.reps = 5
    return args


# ----------------------------------------------------------------------------- solver
def solver_class():
    """odelayers' DormandPrince: ``error_norm``, ``adjoint_norm``, ``first_step`` and
    ``parallel_iterations`` are its options (``odelayers.SolverOptions``)."""
    import odelayers

    return odelayers.DormandPrince


# --------------------------------------------------------------------------- setup
class Setup:
    def __init__(self):
        import copy

        import _odenet as O
        import numpy as np
        import tensorflow as tf
        import torch
        from torchdiffeq import odeint

        tfunc = O.torch_odefunc()
        y0 = O.torch_initial_state()
        self.weights = O.export_weights(tfunc)
        self.y0 = tf.constant(O.to_nhwc(y0))
        self.cot = tf.constant(
            np.random.default_rng(2).standard_normal(self.y0.shape).astype(np.float32)
        )
        self.func = O.TFODEFunc(self.weights)
        self.count = tf.Variable(0, dtype=tf.int64, trainable=False)
        f64 = copy.deepcopy(tfunc).double()
        with torch.no_grad():
            ref = odeint(
                f64,
                torch.from_numpy(y0).double(),
                torch.tensor([0.0, 1.0]).double(),
                rtol=1e-8,
                atol=1e-8,
            )[-1].numpy()
        self.ref = O.to_nhwc(ref)

    def counted(self, t, y):
        import tensorflow as tf

        with tf.control_dependencies([self.count.assign_add(1)]):
            return self.func(t, tf.identity(y))

    def gradient_error(self, grads) -> float:
        """Relative L2 error of the gradient w.r.t. (y0, all weights), against a fine solve.

        The reference is backpropagation through rk4 with 8 steps (final-state error
        ~1e-5, far below the 1e-3-tolerance gradients compared with it).
        """
        import numpy as np

        if not hasattr(self, "_ref_grads"):
            import tensorflow as tf

            import odelayers

            @tf.function
            def fine(y):
                with tf.GradientTape() as tape:
                    tape.watch(y)
                    out = odelayers.odeint(
                        self.func, y, [0.0, 1.0], method="rk4", num_steps=8, gradient="backprop"
                    )[-1]
                    loss = tf.reduce_sum(out * self.cot)
                return tape.gradient(loss, [y] + self.func.variables)

            self._ref_grads = [np.asarray(g) for g in fine(self.y0)]
        flat = lambda gs: np.concatenate([np.ravel(np.asarray(g)) for g in gs])  # noqa: E731
        ref = flat(self._ref_grads)
        return float(np.linalg.norm(flat(grads) - ref) / np.linalg.norm(ref))

    def error(self, y) -> float:
        import numpy as np

        y = np.asarray(y, np.float64)
        return float(np.sqrt(np.mean((y - self.ref) ** 2) / np.mean(self.ref**2)))


def forward_fn(s: Setup, solver, func=None, jit=False):
    import tensorflow as tf

    func = func or s.func

    @tf.function(jit_compile=jit)
    def fwd(y):
        return solver.solve(func, 0.0, y, solution_times=[1.0]).states[-1]

    return fwd


def train_fn(s: Setup, solver, func=None):
    import tensorflow as tf

    func = func or s.func

    @tf.function
    def step(y):
        with tf.GradientTape() as tape:
            tape.watch(y)
            loss = tf.reduce_sum(
                solver.solve(func, 0.0, y, solution_times=[1.0]).states[-1] * s.cot
            )
        return tape.gradient(loss, [y] + s.func.variables)

    return step


def counts(s: Setup, make_solver, backward: bool) -> dict:
    """Forward NFE (and backward NFE) and final-state error of a solver (untimed)."""
    fwd = forward_fn(s, make_solver(), s.counted)
    s.count.assign(0)
    y = fwd(s.y0)
    out = {"nfe_forward": int(s.count.numpy()), "error": s.error(y)}
    if backward:
        train = train_fn(s, make_solver(), s.counted)
        s.count.assign(0)
        grads = train(s.y0)
        out["nfe_backward"] = int(s.count.numpy()) - out["nfe_forward"]
        out["gradient_error"] = s.gradient_error(grads)
    return out


def _sync(fn, *args):
    import tensorflow as tf

    return lambda: tf.nest.map_structure(lambda x: x.numpy(), fn(*args))


def compare(s: Setup, args, variants: dict, timed: str = "train") -> dict:
    """NFE/error of each solver variant, and interleaved timings (forward or train)."""
    out = {name: counts(s, make, backward=(timed == "train")) for name, make in variants.items()}
    make_fn = train_fn if timed == "train" else forward_fn
    fns = {name: _sync(make_fn(s, make()), s.y0) for name, make in variants.items()}
    times = H.interleaved(
        fns, reps=args.adjoint_reps if timed == "train" else args.reps, warmup=args.warmup
    )
    base = next(iter(variants))
    for name in variants:
        out[name].update(H.summarize(times[name]))
        out[name]["time_ratio_to_baseline"] = H.paired_ratio(times, name, base)["median"]
    return out


# ---------------------------------------------------------------------------- levers
def lever_first_step(s, args, Proto):
    return compare(
        s,
        args,
        {
            "automatic (Hairer), shipped": lambda: Proto(RTOL, ATOL),
            "fixed 1e-3 (TFP default)": lambda: Proto(RTOL, ATOL, first_step=1e-3),
        },
        timed="forward",
    )


def lever_error_norm(s, args, Proto):
    return compare(
        s,
        args,
        {
            "RMS norm, exponent 1/5 (SciPy, torchdiffeq), shipped": lambda: Proto(RTOL, ATOL),
            "TFP norm sqrt(mean(r^4))": lambda: Proto(RTOL, ATOL, error_norm="tfp"),
        },
        timed="forward",
    )


def lever_seminorm(s, args, Proto):
    return compare(
        s,
        args,
        {
            "seminorm, shipped": lambda: Proto(RTOL, ATOL),
            "full norm (TFP's adjoint)": lambda: Proto(RTOL, ATOL, adjoint_norm="full"),
            "TFP error norm + seminorm": lambda: Proto(RTOL, ATOL, error_norm="tfp"),
        },
        timed="train",
    )


def lever_parallel_iterations(s, args, Proto):
    import tensorflow as tf

    results = {}
    fns = {}
    for label, n in (
        ("parallel_iterations=1, shipped", 1),
        ("parallel_iterations=10 (TF default)", 10),
    ):
        fwd = forward_fn(s, Proto(RTOL, ATOL, parallel_iterations=n))
        train = train_fn(s, Proto(RTOL, ATOL, parallel_iterations=n))
        fwd.get_concrete_function(s.y0)
        train.get_concrete_function(s.y0)
        peaks = {}
        for kind, fn in (("forward", fwd), ("train", train)):
            tf.config.experimental.reset_memory_stats("CPU:0")
            before = tf.config.experimental.get_memory_info("CPU:0")["current"]
            _sync(fn, s.y0)()
            peaks[f"{kind}_peak_mib"] = (
                tf.config.experimental.get_memory_info("CPU:0")["peak"] - before
            ) / 2**20
        results[label] = peaks
        fns[label] = _sync(train, s.y0)
    times = H.interleaved(fns, reps=args.adjoint_reps, warmup=0)  # each ran once above
    base = next(iter(fns))
    for label in fns:
        results[label].update(H.summarize(times[label]))
        results[label]["time_ratio_to_baseline"] = H.paired_ratio(times, label, base)["median"]
    return results


def lever_tracing(s, args):
    """Trace time of an ODEBlock training step, and what a second batch shape costs.

    Measured with ``get_concrete_function`` (tracing only, nothing executed) for the
    shapes a ``model.fit`` epoch of 1300 images in batches of 32 produces (32, then a
    last batch of 20), then a third shape (12).
    """
    import _odenet as O
    import tensorflow as tf

    import odelayers

    out = {}
    for reduce in (False, True):
        block = odelayers.ODEBlock(
            O.keras_dynamics(s.weights), method="dopri5", rtol=RTOL, atol=ATOL
        )
        block.build(s.y0.shape)

        @tf.function(reduce_retracing=reduce)
        def step(y):
            with tf.GradientTape() as tape:
                tape.watch(y)
                loss = tf.reduce_sum(block(y, training=True))  # noqa: B023 (traced in this pass)
            return tape.gradient(loss, [y] + block.trainable_variables)  # noqa: B023

        trace_s = []
        for batch in (32, 20, 12):
            start = time.perf_counter()
            step.get_concrete_function(s.y0[:batch])
            trace_s.append(time.perf_counter() - start)
        out[f"reduce_retracing={reduce}"] = {
            "trace_s_batch32": trace_s[0],
            "trace_s_batch20": trace_s[1],
            "trace_s_batch12": trace_s[2],
            "traces": step.experimental_get_tracing_count(),
        }
    return out


def lever_xla(s, args, Proto):
    results = {}
    fns = {}
    for label, jit in (("tf.function", False), ("tf.function(jit_compile=True)", True)):
        fn = forward_fn(s, Proto(RTOL, ATOL), jit=jit)
        try:
            start = time.perf_counter()
            y = fn(s.y0)
            results[label] = {"first_call_s": time.perf_counter() - start, "error": s.error(y)}
            fns[label] = _sync(fn, s.y0)
        except Exception as exc:  # noqa: BLE001 - recorded: XLA may not compile TFP's loops
            results[label] = {"failed": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
    if len(fns) == 2:
        times = H.interleaved(fns, reps=args.reps, warmup=args.warmup)
        for label in fns:
            results[label].update(H.summarize(times[label]))
            results[label]["time_ratio_to_baseline"] = H.paired_ratio(times, label, "tf.function")[
                "median"
            ]
    return results


def main(argv=None) -> int:
    args = parse_args(argv)
    threads = H.configure_threads(args.threads, args.inter_op_threads)
    record = H.Record("ode_levers", args, threads)
    s = Setup()
    Proto = solver_class()
    res = {}
    for name, run in (
        ("first_step", lambda: lever_first_step(s, args, Proto)),
        ("error_norm", lambda: lever_error_norm(s, args, Proto)),
        ("adjoint_seminorm", lambda: lever_seminorm(s, args, Proto)),
        ("parallel_iterations", lambda: lever_parallel_iterations(s, args, Proto)),
        ("tracing", lambda: lever_tracing(s, args)),
        ("xla", lambda: lever_xla(s, args, Proto)),
    ):
        res[name] = run()
        print(name, res[name], flush=True)
    md = []
    for name, rows in res.items():
        keys = sorted({k for r in rows.values() for k in r if not isinstance(r[k], (list, dict))})
        md.append(
            f"### {name}\n\n"
            + H.markdown_table(
                ["variant"] + keys, [[v] + [r.get(k) for k in keys] for v, r in rows.items()]
            )
        )
    path = record.finish(res, "\n\n".join(md))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
