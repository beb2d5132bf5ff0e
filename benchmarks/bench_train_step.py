"""A training step of the report's residual CNN, Keras / its PyTorch twin at its fastest, and of the
ODE-Net (shipped and solver levers) / the CNN; FLOP/s against the fp32 peak and a matmul."""

import itertools
import math
import os
from pathlib import Path

import _common as C
import keras
import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from reproduce import models
from reproduce.data import synthetic_train
from reproduce.preprocess import resnet_inputs

RESNET = "keras resnet"
# Solver levers of the ODE-Net, each replacing the shipped solver (dopri5 at 1e-3, adjoint, as the
# report describes it); the first is the variant the comparison trains (--method rk4 --gradient
# backprop).
LEVERS = {
    "rk4 h=0.5 backprop": dict(method="rk4", step_size=0.5, gradient="backprop"),
    "dopri5 1e-2 adjoint": dict(method="dopri5", rtol=1e-2, atol=1e-2, gradient="adjoint"),
    "dopri5 1e-3 backprop": dict(method="dopri5", rtol=1e-3, atol=1e-3, gradient="backprop"),
    "rk4 h=0.5 adjoint": dict(method="rk4", step_size=0.5, gradient="adjoint"),
    "rk4 h=0.25 backprop": dict(method="rk4", step_size=0.25, gradient="backprop"),
    "midpoint h=0.5 backprop": dict(method="midpoint", step_size=0.5, gradient="backprop"),
}


def nchw(x):
    """NHWC images as PyTorch lays them out."""
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def torch_resnet():
    """The residual CNN of the report's appendix 7.2.2 in PyTorch, layer for layer."""
    elu, pool, drop, S = nn.ELU(), nn.MaxPool2d(2), nn.Dropout(0.25), nn.Sequential
    bn = lambda c, kind=nn.BatchNorm2d: kind(c, eps=1e-3, momentum=0.01)  # noqa: E731 - Keras' 0.99
    conv = lambda cin, cout: [nn.Conv2d(cin, cout, 5, padding=2), bn(cout), elu]  # noqa: E731
    dense = lambda cin, cout: [nn.Linear(cin, cout), bn(cout, nn.BatchNorm1d), elu, nn.Dropout(0.5)]  # noqa: E731
    branch = lambda: S(bn(64), *conv(64, 128), drop, *conv(128, 64))  # noqa: E731

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = S(bn(3), *conv(3, 32), pool, drop, *conv(32, 64), pool, drop)
            self.res1, self.res2 = branch(), branch()
            self.top = S(*conv(64, 128), pool, *conv(128, 256), drop, pool)
            self.top.extend([*conv(256, 512), drop, pool])
            self.head = S(*dense(512, 512), *dense(512, 256), nn.Linear(256, 2), nn.Softmax(1))

        def forward(self, x):
            x = self.stem(x)
            r = self.res2(self.res1(x) + x) + x  # the R script adds the stem's output again
            return self.head(torch.amax(self.top(r), dim=(2, 3)))

    return ResNet()


def torch_trainer(model, forward, foreach: bool):
    """Keras' ``fit`` step: Adam(1e-3, eps 1e-7), cross-entropy of probabilities clipped as Keras'."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7, foreach=foreach)

    def step(x, y):
        optimizer.zero_grad(set_to_none=True)
        nn.functional.binary_cross_entropy(forward(x).clamp(1e-7, 1 - 1e-7), y).backward()
        optimizer.step()

    return step


def faster_adam_foreach() -> bool:
    """Whether Adam's multi-tensor step beats its per-parameter loop on the twin's parameters."""
    params = [torch.randn_like(p, requires_grad=True) for p in torch_resnet().parameters()]
    for p in params:
        p.grad = torch.randn_like(p)
    steps = {foreach: torch.optim.Adam(params, foreach=foreach).step for foreach in (False, True)}
    times = C.interleave(steps, 10, warmup=3)
    return np.median(times[True]) < np.median(times[False])


def candidates(args, x, y) -> tuple[dict, dict]:
    """Each candidate's step on one batch (cycling through the batches), and the models."""
    built = {RESNET: models.build_resnet, "odenet (shipped)": models.build_odenet}
    reset = dict(step_size=None, num_steps=None, rtol=1e-3, atol=1e-3)  # what a lever leaves out
    for name in [] if args.tiny else args.levers:
        built[f"odenet {name}"] = lambda o=LEVERS[name]: models.build_odenet(**reset | o)
    built_models, steps = {}, {}
    for name, build in built.items():
        keras.utils.set_random_seed(1)
        built_models[name] = model = build()
        batches = itertools.cycle([(x[i : i + 32], y[i : i + 32]) for i in range(0, len(x), 32)])
        steps[name] = lambda m=model, b=batches: m.train_on_batch(*next(b), return_dict=True)
    foreach, xt, yt = faster_adam_foreach(), torch.from_numpy(nchw(x)), torch.from_numpy(y)
    compiled = [] if args.tiny or args.no_torch_compile else ["compiled channels_last"]
    for layout in ["nchw", "channels_last", *compiled]:
        torch.manual_seed(0)
        fmt = torch.contiguous_format if layout == "nchw" else torch.channels_last
        built_models[f"torch {layout}"] = model = torch_resnet().to(memory_format=fmt)
        forward = torch.compile(model) if layout.startswith("compiled") else model
        batches = zip(xt.split(32), yt.split(32))
        batches = itertools.cycle([(a.contiguous(memory_format=fmt), b) for a, b in batches])
        train = torch_trainer(model, forward, foreach)
        steps[f"torch {layout}"] = lambda train=train, batches=batches: train(*next(batches))
    return steps, built_models | {"adam_foreach": foreach}


def flops(keras_model, torch_model, x, y) -> dict:
    """FLOPs of a training batch in convolutions and dense layers (the rest is under 0.5%), and
    PyTorch's FlopCounterMode's count as a check."""
    upstream, total = set(), 0
    for layer in (la for la in keras_model.layers if not isinstance(la, keras.layers.InputLayer)):
        needs_grad = any(id(t) in upstream for t in keras.tree.flatten(layer.input))
        if needs_grad or layer.trainable_weights:
            upstream.add(id(layer.output))
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            per_image = math.prod(layer.output.shape[1:-1]) * math.prod(layer.kernel.shape)
            total += 2 * len(x) * per_image * (3 if needs_grad else 2)
    step = torch_trainer(torch_model, torch_model, False)
    with FlopCounterMode(display=False) as counter:
        step(torch.from_numpy(nchw(x)), torch.from_numpy(y))
    return {"counted": total, "torch_flop_counter": counter.get_total_flops()}


def ceilings(threads: int, n: int) -> dict:
    """fp32 FLOP/s: AVX-512's peak at the clock KVM shows (BogoMIPS / 2), and n x n matmul's."""
    lines = Path("/proc/cpuinfo").read_text().lower().splitlines()
    bogomips = [float(line.split(":")[1]) for line in lines if line.startswith("bogomips")]
    ghz = bogomips[0] / 2000 if bogomips else 2.6
    a, b = torch.randn(n, n), torch.randn(n, n)
    best = min(C.interleave({"mm": lambda: torch.mm(a, b)}, 3, warmup=1)["mm"])
    return {"clock_ghz": ghz, "avx512_peak": threads * 64 * ghz * 1e9, "matmul": 2 * n**3 / best}


def measure(args) -> dict:
    x, y = resnet_inputs(pd.DataFrame(synthetic_train(64 if args.tiny else 320, seed=0)))
    steps, built = candidates(args, x, y)
    ours = sum(math.prod(w.shape) for w in built[RESNET].weights if "debias" not in w.path)
    twin = built["torch nchw"].state_dict()  # parameters and batch-norm statistics
    theirs = sum(v.numel() for k, v in twin.items() if not k.endswith("num_batches_tracked"))
    assert ours == theirs, f"Keras {ours} != PyTorch {theirs} parameters"
    rows, last = {}, {}  # each step's last result (the ODE-Nets' NFE)
    for name, step in steps.items():
        first = C.interleave({name: step}, 1 if args.tiny else 5, warmup=0)[name]  # 5 untimed
        rows[name] = {"first_s": first[0]}  # traces or compiles
    record = {n: (lambda n=n, s=s: last.__setitem__(n, s())) for n, s in steps.items()}
    times = C.timed(rows, record, args.repeats)
    work = flops(built[RESNET], built["torch nchw"], x[:32], y[:32])
    ceiling = ceilings(min(args.threads, os.cpu_count()), 1024 if args.tiny else 4096)
    for name, row in rows.items():  # the FLOPs counted are the CNN's: its rows and its twins'
        if name[:6] != "odenet":
            flop_s = work["counted"] / row["median"]
            row |= {"gflops": flop_s / 1e9, "of_peak": flop_s / ceiling["avx512_peak"]}
            row |= {"of_matmul": flop_s / ceiling["matmul"]}
        row |= {"nfe": float(last[name]["nfe"])} if "nfe" in (last[name] or {}) else {}
    torch_names = [n for n in steps if n.startswith("torch")]
    fastest = min(torch_names, key=lambda n: rows[n]["median"])
    ratios = {f"{RESNET} / {t}": C.ratio(times, RESNET, t) for t in torch_names}
    ratios |= {f"{n} / {RESNET}": C.ratio(times, n, RESNET) for n in steps if n[:6] == "odenet"}
    C.rows_table("ratio", ratios)
    out = dict(parameters=ours, rows=rows, ratios=ratios, torch_fastest=fastest, flops=work)
    out |= dict(ceilings=ceiling, adam_foreach=built["adam_foreach"])
    return out | {"headline": ratios[f"{RESNET} / {fastest}"]["median"]}


if __name__ == "__main__":
    # The shipped ODE-Net is the one the report describes; --levers with no name: it alone.
    options = {"--levers": dict(nargs="*", choices=LEVERS, default=list(LEVERS))}
    options["--no-torch-compile"] = dict(action="store_true", help="first compile: minutes")
    C.run(C.arguments(__doc__, 12, (1, 2), options), "train_step", measure)
