"""The report's residual CNN, one training step: Keras (what ``reproduce`` ships) vs PyTorch at its fastest.

Ours: ``reproduce.models.build_resnet()`` with its defaults (Keras 2.2 batch norm and
loss, Adam 1e-3, no XLA: Keras' ``jit_compile="auto"`` is off on a CPU-only machine),
one ``model.train_on_batch`` per batch of 32 (the train function ``model.fit``
runs). Theirs: the PyTorch twin (``_resnet_torch.py``, same layers, sizes and
parameter count, asserted) in NCHW, in ``channels_last`` memory format, and
``torch.compile`` of the ``channels_last`` model, with Adam's multi-tensor
(``foreach``) step if that is the faster one here (timed first); whichever PyTorch
variant has the lowest median is "PyTorch at its fastest". Both get the same
intra/inter-op thread counts (``_harness.configure_threads``). Data: stand-in images
(``reproduce.data.synthetic_train``) preprocessed as the R script does.

Every candidate trains ``--warmup`` batches first (default 5; the first one traces or
compiles, and its time is reported), then ``--reps`` rounds (default 12) of
``--batches`` batches each (default 1), interleaved (A B C D, D C B A, ...). Reported:
per-batch times (median, IQR, min-max), per-round ratios Keras / PyTorch (median,
IQR, min-max; goal <= 1.0 against the fastest PyTorch variant), and each side's
FLOP/s against the machine's fp32 peak and a measured matmul ceiling (``_flops.py``),
the FLOP count checked against PyTorch's ``FlopCounterMode``.

Run: ``python benchmarks/bench_resnet_epoch.py --threads 1 --run-label a`` (and b,
and ``--threads 2``): ~3 minutes each on an idle 2-core machine (torch.compile's first
compilation on a machine adds ~1.5 min; later ones hit its cache); writes
``resnet_step_t{threads}_{label}.json/.md``. ``--quick``: a smoke run without
torch.compile (~1-2 min). ``--no-torch-compile`` skips it. ``--xla`` adds Keras with
``jit_compile=True`` (7x slower here, + ~2 min). The shipped model's batch norms run
TensorFlow's fused kernel (``reproduce.keras22.Keras22BatchNormalization``, ``fused=None``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import _harness as H

N_IMAGES = 320  # 10 batches, cycled: enough for distinct batches without the data set's cost
BATCH = 32


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    H.add_common_arguments(parser)
    parser.set_defaults(warmup=5)
    parser.add_argument("--batches", type=int, default=1, help="batches per round (default 1)")
    parser.add_argument("--run-label", default="a", help="a, b, ...: names the output files")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 rounds of 1 batch")
    parser.add_argument("--xla", action="store_true", help="add Keras with jit_compile=True")
    parser.add_argument(
        "--no-torch-compile",
        dest="torch_compile",
        action="store_false",
        help="skip torch.compile of the PyTorch model (its compilation: ~0.8-2.5 min)",
    )
    parser.add_argument("--matmul-n", type=int, default=None, help="matmul ceiling size (4096)")
    args = parser.parse_args(argv)
    if args.quick:
        args.reps, args.torch_compile = args.reps or 3, False
        args.matmul_n = args.matmul_n or 2048
    args.reps = args.reps or 12
    args.matmul_n = args.matmul_n or 4096
    return args


# ---------------------------------------------------------------------------- data, models
def load_images(n: int = N_IMAGES):
    """``n`` stand-in images [n, 75, 75, 3] float32 and one-hot labels [n, 2]."""
    import numpy as np
    import pandas as pd

    from reproduce.data import synthetic_train
    from reproduce.preprocess import resnet_inputs

    df = pd.DataFrame(synthetic_train(n, seed=0))
    for band in ("band_1", "band_2"):
        df[band] = df[band].map(lambda v: np.asarray(v, dtype="float64"))
    return resnet_inputs(df, preprocessing="r")


def build_keras(jit_compile: bool = False):
    """The shipped model, compiled as ``reproduce.resnet`` compiles it (optionally with XLA)."""
    import keras

    from reproduce.models import build_resnet

    keras.utils.set_random_seed(0)
    model = build_resnet()
    if jit_compile:
        model.jit_compile = True  # the only change: the same compile() otherwise
    return model


def check_parameter_counts(keras_model, torch_model) -> dict:
    """Assert the twin has exactly the Keras model's parameters; return the counts."""
    import _resnet_torch as RT
    import numpy as np

    keras_counts = {
        "trainable": int(sum(np.prod(w.shape) for w in keras_model.trainable_weights)),
        # Keras 2.2's batch norm (the default) keeps an update counter per layer:
        # bookkeeping, not a parameter, and PyTorch's twin has none.
        "total": int(
            sum(np.prod(w.shape) for w in keras_model.weights if "debias_steps" not in w.path)
        ),
    }
    torch_counts = RT.parameter_counts(torch_model)
    assert keras_counts == torch_counts, f"Keras {keras_counts} != PyTorch {torch_counts}"
    return keras_counts


# ---------------------------------------------------------------------------- runners
def cycling_runner(step, batches, per_call: int):
    """A call that runs ``step(x, y)`` on the next ``per_call`` batches, cycling through them."""
    state = {"i": 0}

    def run():
        for _ in range(per_call):
            xb, yb = batches[state["i"] % len(batches)]
            state["i"] += 1
            step(xb, yb)

    return run


def choose_foreach() -> dict:
    """Time Adam's step, per-parameter loop vs multi-tensor, on the twin's parameters."""
    import _resnet_torch as RT
    import torch

    out = {}
    for foreach in (False, True):
        model = RT.TorchResNet()
        for p in model.parameters():
            p.grad = torch.randn_like(p)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7, foreach=foreach)
        for _ in range(3):
            opt.step()
        start = time.perf_counter()
        for _ in range(10):
            opt.step()
        out[f"foreach={foreach}"] = (time.perf_counter() - start) / 10
    out["chosen"] = out["foreach=True"] < out["foreach=False"]
    return out


def torch_candidates(args, x, y, foreach: bool) -> tuple[dict, dict]:
    """PyTorch runners by name, and the NCHW model/step/batch used for the FLOP check."""
    import _resnet_torch as RT
    import numpy as np
    import torch

    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    yt = torch.from_numpy(y)
    layouts = ["nchw", "channels_last"] + (["compile"] if args.torch_compile else [])
    runners, check = {}, {}
    for layout in layouts:
        torch.manual_seed(0)
        model, _ = RT.to_layout(
            RT.TorchResNet(), xt[:1], "nchw" if layout == "nchw" else "channels_last"
        )
        forward = torch.compile(model) if layout == "compile" else None
        step = RT.make_trainer(model, foreach=foreach, forward=forward)
        fmt = "nchw" if layout == "nchw" else "channels_last"
        batches = [
            (RT.to_layout(model, xt[i : i + BATCH], fmt)[1], yt[i : i + BATCH])
            for i in range(0, len(xt), BATCH)
        ]
        name = {"nchw": "torch NCHW", "channels_last": "torch channels_last"}.get(
            layout, "torch.compile channels_last"
        )
        runners[name] = cycling_runner(step, batches, args.batches)
        runners[name].warm = cycling_runner(step, batches, 1)
        if layout == "nchw":
            check = {"model": model, "step": step, "batch": batches[0]}
        model.train()
    return runners, check


def keras_candidates(args, x, y) -> tuple[dict, object]:
    """Keras runners by name (the shipped model, and the opt-in extra row), and the shipped model."""
    batches = [(x[i : i + BATCH], y[i : i + BATCH]) for i in range(0, len(x), BATCH)]
    shipped = build_keras()
    models = {"keras (shipped)": shipped}
    if args.xla:
        models["keras jit_compile=True"] = build_keras(jit_compile=True)
    runners = {}
    for name, model in models.items():
        runners[name] = cycling_runner(model.train_on_batch, batches, args.batches)
        runners[name].warm = cycling_runner(model.train_on_batch, batches, 1)
    return runners, shipped


# ---------------------------------------------------------------------------- measurement
def warm_up(runners: dict, n: int) -> dict:
    """``n`` untimed batches of each candidate; returns the first batch's time (tracing)."""
    first = {}
    for name, run in runners.items():
        start = time.perf_counter()
        run.warm()
        first[name] = time.perf_counter() - start
        for _ in range(n - 1):
            run.warm()
    return first


def ratio_stats(times: dict, ours: str, theirs: str) -> dict:
    """Median, IQR and min-max of the per-round ratios ``ours / theirs``."""
    s = H.summarize([a / b for a, b in zip(times[ours], times[theirs])])
    return {k.removesuffix("_s"): v for k, v in s.items()}


def flop_figures(args, kmodel, check, threads: int, matmul_before: dict) -> dict:
    """Our FLOP count, PyTorch's count of the same step, and the machine's ceilings.

    The matmul ceiling is measured before and after the rounds; the higher of the two
    per library is kept (load from other processes can only lower it).
    """
    import _flops as F

    after = F.matmul_ceiling(args.matmul_n)
    matmul = {k: max(matmul_before[k], after[k]) for k in ("torch", "numpy")}
    matmul.update(n=args.matmul_n, before=matmul_before, after=after)

    ours = F.keras_training_flops(kmodel, BATCH)
    theirs = F.torch_counted_flops(check["model"], check["step"], *check["batch"])
    ghz, how = F.clock_ghz()
    cores = min(threads, os.cpu_count() or threads)
    flags = F.cpu_flags()
    return {
        "count": ours,
        "torch_flop_counter": theirs,
        "count_vs_torch": ours["total"] / theirs["total"],
        "clock_ghz": ghz,
        "clock_source": how,
        "cpu_has": sorted(flags & {"avx2", "fma", "avx512f", "amx_tile", "amx_bf16"}),
        "peak": F.theoretical_peaks(cores, ghz),
        "matmul": matmul,
    }


def measure(args) -> dict:
    """Interleaved per-batch timings of Keras against every PyTorch variant."""
    import _flops as F

    load_before = H.load_average()
    x, y = load_images()
    foreach = choose_foreach()
    keras_runners, kmodel = keras_candidates(args, x, y)
    torch_runners, check = torch_candidates(args, x, y, foreach["chosen"])
    counts = check_parameter_counts(kmodel, check["model"])
    runners = {**keras_runners, **torch_runners}
    matmul_before = F.matmul_ceiling(args.matmul_n)
    first = warm_up(runners, args.warmup)
    times = H.interleaved(runners, reps=args.reps, warmup=0)
    per_batch = {k: [t / args.batches for t in v] for k, v in times.items()}
    stats = {k: H.summarize(v) for k, v in per_batch.items()}
    fastest = min(torch_runners, key=lambda k: stats[k]["median_s"])
    threads = args.threads
    flops = flop_figures(args, kmodel, check, threads, matmul_before)
    total = flops["count"]["total"]
    for name, s in stats.items():
        s["first_batch_s"] = first[name]
        s["gflops"] = total / s["median_s"] / 1e9
        s["fraction_of_peak_avx512"] = total / s["median_s"] / flops["peak"]["avx512"]
        s["fraction_of_matmul_torch"] = total / s["median_s"] / flops["matmul"]["torch"]
    ratios = {k: {t: ratio_stats(per_batch, k, t) for t in torch_runners} for k in keras_runners}
    headline = ratios["keras (shipped)"][fastest]["median"]
    return {
        "parameters": counts,
        "batch": BATCH,
        "batches_per_round": args.batches,
        "rounds": args.reps,
        "warmup_batches": args.warmup,
        "quick": args.quick,
        "keras_jit_compile": bool(kmodel.jit_compile),
        "adam_foreach": foreach,
        "per_batch": stats,
        "per_batch_samples_s": per_batch,
        "torch_fastest": fastest,
        "ratios": ratios,
        "headline": headline,
        "flops": flops,
        "torch_compile": "measured" if args.torch_compile else "not run",
        "xla": "measured" if args.xla else "not run (--xla)",
        "load_before": load_before,  # other processes' load, before this run added its own
        "logical_cpus": os.cpu_count(),
    }


def main(argv=None) -> int:
    import _resnet_report as R

    args = parse_args(argv)
    # NumPy's BLAS (the matmul ceiling) reads its thread count when it loads: same count.
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))
    threads = H.configure_threads(args.threads, args.inter_op_threads)
    record = H.Record(f"resnet_step_t{args.threads}_{args.run_label}", args, threads)
    res = measure(args)
    print(R.summary_line(res), flush=True)
    path = record.finish(res, R.render_markdown(res))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
