"""Where a training step spends its time, TensorFlow against PyTorch, by kind of op.

``odenet``: bench_odeint's fastest training step (rk4, 2 steps, backprop); ``resnet``:
bench_train_step's residual CNN, 8 batches through ``fit``. Host op events of TensorFlow's
profiler (containers left out) and torch.profiler's self CPU time, in ms per step.
"""

from __future__ import annotations

import collections
import functools
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

# (category, pattern on TensorFlow's op type or PyTorch's op name); the first match wins.
CATEGORIES = (
    ("convolution", r"Conv2D|FusedConv|convolution|mkldnn_conv"),
    ("normalisation", r"BatchNorm|batch_norm|group_norm|GroupNorm"),
    ("activation", r"Relu|Elu|relu|elu|threshold"),
    ("pooling, dropout", r"MaxPool|max_pool|amax|Max$|Random|bernoulli"),
    ("optimizer", r"Adam|_foreach|adam|Assign|addcdiv|addcmul|lerp"),
    ("input pipeline", r"Dataset|Iterator|Prefetch|DoCompute|^Map$"),
    ("matmul", r"MatMul|addmm|mm$|linear"),
    ("reductions", r"Mean|Sum|reduce|mean|sum|Prod"),
    (
        "element-wise",
        r"Mul|Add|Sub|Div|Sqrt|Maximum|Neg|Select|Tile|Concat|Cast|Pad|Transpose|Reshape|Slice|"
        r"mul|add|sub|div|sqrt|where|clamp|cat|copy|fill|zeros|ones|empty|to$|view|slice|index",
    ),
)
CONTAINERS = {"While", "StatelessWhile", "If", "StatelessIf", "PartitionedCall"}
CONTAINERS |= {"StatefulPartitionedCall", "Function", "RunGraph", "Run", "Process"}


def categorise(ops: dict) -> dict:
    out = collections.Counter()
    for name, ms in ops.items():
        out[next((c for c, p in CATEGORIES if re.search(p, name)), "other")] += ms
    return dict(out)


def profile_tf(call, steps: int) -> dict:
    """ms per call by TensorFlow op type, and ms per call."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    logdir = tempfile.mkdtemp(prefix="tfprof_")
    tf.profiler.experimental.start(logdir)
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


def profile_torch(call, steps: int) -> dict:
    """ms per call by PyTorch op (self time), and ms per call."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
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
    fit = functools.partial(model.fit, x, y, batch_size=32, epochs=1, verbose=0)
    return fit, lambda: [step(a, b) for a, b in zip(xt.split(32), yt.split(32))], batches


def measure(args) -> dict:
    tf_step, torch_step, batches = steps_of(args)
    res, calls = {}, {"tensorflow": (tf_step, profile_tf), "torch": (torch_step, profile_torch)}
    for side, (call, profiler) in calls.items():
        call()  # traced, warmed, outside the trace
        ops, wall = profiler(call, args.repeats)
        ops = {k: v / batches for k, v in ops.items()}
        res[side] = {"ops_ms": ops, "wall_ms": wall / batches, "categories_ms": categorise(ops)}
    ours, theirs = res["tensorflow"]["categories_ms"], res["torch"]["categories_ms"]
    names = sorted(set(ours) | set(theirs), key=lambda c: -ours.get(c, 0) - theirs.get(c, 0))
    rows = [[c, ours.get(c, 0.0), theirs.get(c, 0.0)] for c in names]
    walls = [res["tensorflow"]["wall_ms"], res["torch"]["wall_ms"]]
    C.table(["ms per step", "TensorFlow", "PyTorch"], rows + [["wall (profiled)", *walls]])
    return res


def main(argv=None):
    parser = C.parser(__doc__, repeats=None, threads=(1, 2))
    parser.add_argument("--model", choices=("odenet", "resnet"), default="odenet")
    args = parser.parse_args(argv)
    args.repeats = 2 if args.tiny else args.repeats or (10 if args.model == "odenet" else 2)
    C.run(args, f"profile_{args.model}", measure)


if __name__ == "__main__":
    main()
