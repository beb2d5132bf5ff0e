"""Where a training step spends its time, TensorFlow against PyTorch, by kind of op: bench_odeint's
rk4 step (``--model odenet``) or 8 batches of bench_train_step's residual CNN (``resnet``)."""

import collections
import re
import tempfile
import timeit
from pathlib import Path

import _common as C
import bench_odeint as O
import keras
import pandas as pd
import tensorflow as tf
import torch
from bench_train_step import nchw, torch_resnet, torch_trainer

from reproduce.data import synthetic_train
from reproduce.models import build_resnet
from reproduce.preprocess import resnet_inputs

CATEGORIES = {  # pattern on TensorFlow's op type or PyTorch's op name; the first match wins
    "convolution": r"Conv2D|FusedConv|convolution|mkldnn_conv",
    "normalisation": r"BatchNorm|batch_norm|group_norm|GroupNorm",
    "activation": r"Relu|Elu|relu|elu|threshold",
    "pooling, dropout": r"MaxPool|max_pool|amax|Max$|Random|bernoulli",
    "optimizer": r"Adam|_foreach|adam|Assign|addcdiv|addcmul|lerp",
    "input pipeline": r"Dataset|Iterator|Prefetch|DoCompute|^Map$",
    "matmul": r"MatMul|addmm|mm$|linear",
    "reductions": r"Mean|Sum|reduce|mean|sum|Prod",
    "element-wise": r"Mul|Add|Sub|Div|Sqrt|Maximum|Neg|Select|Tile|Concat|Cast|Pad|Transpose|Reshape"
    r"|Slice|mul|add|sub|div|sqrt|where|clamp|cat|copy|fill|zeros|ones|empty|to$|view|slice|index",
}
# Ops that only hold others (host events of TensorFlow's profiler): left out.
CONTAINERS = {"While", "StatelessWhile", "If", "StatelessIf", "PartitionedCall", "Function"}
CONTAINERS |= {"StatefulPartitionedCall", "RunGraph", "Run", "Process"}


def profile_tf(call, steps: int) -> tuple[dict, float]:
    """ms per call by TensorFlow op type, and ms per call."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    tf.profiler.experimental.start(logdir := tempfile.mkdtemp(prefix="tfprof_"))
    wall = timeit.timeit(call, number=steps) / steps * 1000
    tf.profiler.experimental.stop()
    space = xplane_pb2.XSpace()
    space.ParseFromString(sorted(Path(logdir).rglob("*.xplane.pb"))[-1].read_bytes())
    ops = collections.Counter()
    for plane in (p for p in space.planes if p.name == "/host:CPU"):
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for event in (e for line in plane.lines for e in line.events):
            scope, _, op = names.get(event.metadata_id, "").rpartition(":")
            if scope and op.strip() not in CONTAINERS and not op.strip().startswith("__inference"):
                ops[op.strip()] += event.duration_ps / 1e9 / steps
    return dict(ops), wall


def profile_torch(call, steps: int) -> tuple[dict, float]:
    """ms per call by PyTorch op (self time), and ms per call."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        wall = timeit.timeit(call, number=steps) / steps * 1000
    return {e.key: e.self_cpu_time_total / 1000 / steps for e in prof.key_averages()}, wall


def steps_of(args):
    """(TensorFlow's step, PyTorch's step, training batches per step)."""
    if args.model == "odenet":
        p = O.Problem(batch=4 if args.tiny else 32)
        return O.tf_train(p, "rk4", steps=2), O.torch_train(p, "rk4", steps=2), 1
    batches = 2 if args.tiny else 8
    x, y = resnet_inputs(pd.DataFrame(synthetic_train(32 * batches, seed=0)))
    keras.utils.set_random_seed(0)
    model, twin = build_resnet(), torch_resnet()
    step, xt, yt = torch_trainer(twin, twin, False), torch.from_numpy(nchw(x)), torch.from_numpy(y)
    fit = lambda: model.fit(x, y, batch_size=32, epochs=1, verbose=0)  # noqa: E731
    return fit, lambda: [step(a, b) for a, b in zip(xt.split(32), yt.split(32))], batches


def measure(args) -> dict:
    tf_step, torch_step, batches = steps_of(args)
    res, calls = {}, {"tensorflow": (tf_step, profile_tf), "torch": (torch_step, profile_torch)}
    for side, (call, profiler) in calls.items():
        call()  # traced, warmed, outside the trace
        ops, wall = profiler(call, args.repeats)
        ops, categories = {k: v / batches for k, v in ops.items()}, collections.Counter()
        for name, ms in ops.items():
            kind = next((c for c, pattern in CATEGORIES.items() if re.search(pattern, name)), None)
            categories[kind or "other"] += ms
        res[side] = {"ops_ms": ops, "wall_ms": wall / batches, "categories_ms": dict(categories)}
    ours, theirs = res["tensorflow"]["categories_ms"], res["torch"]["categories_ms"]
    names = sorted(set(ours) | set(theirs), key=lambda c: -ours.get(c, 0) - theirs.get(c, 0))
    rows = [[c, ours.get(c, 0.0), theirs.get(c, 0.0)] for c in names]
    walls = [res["tensorflow"]["wall_ms"], res["torch"]["wall_ms"]]
    C.table(["ms per step", "TensorFlow", "PyTorch"], rows + [["wall (profiled)", *walls]])
    return res


if __name__ == "__main__":
    model = {"--model": dict(choices=("odenet", "resnet"), default="odenet")}
    args = C.arguments(__doc__, repeats=None, threads=(1, 2), options=model)
    args.repeats = args.repeats or (10 if args.model == "odenet" else 2)
    C.run(args, f"profile_{args.model}", measure)
