"""Where a training step spends its time, Keras/TensorFlow vs PyTorch, op by op.

Profiles the two steps whose goals are closest to the line:

* ``--model odenet``: the fastest training step of ``bench_odeint.py`` on both sides,
  rk4 with 2 steps and backprop on the ODE-Net dynamics (18x18x64, batch 32);
* ``--model resnet``: one training batch (batch 32) of the report's residual CNN, as
  ``bench_resnet_epoch.py`` runs it (``model.fit`` vs the PyTorch twin).

TensorFlow is profiled with ``tf.profiler.experimental`` (its XPlane trace is read
directly, op events of the host CPU plane, summed by op type, container ops such as
``While``/``PartitionedCall`` excluded); PyTorch with ``torch.profiler`` (self CPU time
by ``aten`` op). Both are grouped into the same categories (convolution forward and
backward, normalisation, activations, pooling, optimizer, element-wise and other) so
the two columns compare; per step, milliseconds.

Run: ``python benchmarks/profile_step.py --model odenet`` (and ``--model resnet``);
``--threads 2`` to see how each side scales; writes
``results/benchmarks/profile_<model>_t<threads>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import re
import sys
import tempfile

import _harness as H

# Events that contain other ops (function calls, loops, the executor's own spans).
CONTAINER_OPS = {
    "While",
    "StatelessWhile",
    "If",
    "StatelessIf",
    "PartitionedCall",
    "StatefulPartitionedCall",
    "Function",
    "RunGraph",
    "Run",
    "Process",
    "IteratorGetNext",
    "MultiDeviceIteratorGetNextFromShard",
}

CATEGORY_RULES = [  # (category, regex on the TF op type or the aten op name), first match wins
    ("conv backward", r"Conv2DBackprop|convolution_backward|mkldnn_convolution_backward"),
    ("conv forward", r"Conv2D|FusedConv|convolution|mkldnn_conv|_convolution"),
    ("normalisation", r"BatchNorm|batch_norm|group_norm|GroupNorm"),
    ("activation", r"Relu|Elu|relu|elu|threshold"),
    ("pooling", r"MaxPool|max_pool|amax|Max$"),
    ("optimizer", r"ApplyAdam|Adam|_foreach|adam|AssignSub|AssignAdd|addcdiv|addcmul|lerp"),
    ("dropout RNG", r"Random|bernoulli"),
    (
        "input pipeline",
        r"Dataset|Iterator|Prefetch|ParallelMap|FlatMap|^Zip|^Root|DoCompute|"
        r"^Map$|OptionsDataset",
    ),
    ("matmul", r"MatMul|addmm|mm$|linear"),
    ("reductions", r"Mean|Sum|reduce|mean|sum|Prod"),
    (
        "element-wise",
        r"Mul|Add|Sub|Div|Square|Rsqrt|Sqrt|Maximum|Neg|Select|mul|add|sub|div|"
        r"pow|rsqrt|sqrt|maximum|where|clamp|Tile|repeat|expand|Concat|cat|copy|"
        r"fill|Fill|zeros|ones|empty|Cast|to$|Log|log|Exp|exp|Reciprocal|Softmax|"
        r"softmax|binary_cross|Less|Greater|Equal|Clip|Pad|Transpose|permute|"
        r"Reshape|view|Slice|slice|index|Gather|gather|Pack|Unpack|stack",
    ),
]


def categorise(name: str) -> str:
    for category, pattern in CATEGORY_RULES:
        if re.search(pattern, name):
            return category
    return "other"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    H.add_common_arguments(parser)
    parser.add_argument("--model", choices=("odenet", "resnet"), default="odenet")
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="profiled steps (default: odenet 10, resnet 16 = 2 fits of 8 batches)",
    )
    args = parser.parse_args(argv)
    if args.steps is None:
        args.steps = 10 if args.model == "odenet" else 16
    return args


# ------------------------------------------------------------------------ TensorFlow
def profile_tf(run, steps: int, per_run: int = 1) -> tuple[dict, float]:
    """Per-step milliseconds by TF op type, and the step's wall time (ms).

    ``run`` performs ``per_run`` training steps; it is called ``steps`` times.
    """
    import time

    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    logdir = tempfile.mkdtemp(prefix="tfprof_")
    run()  # warm-up outside the trace
    tf.profiler.experimental.start(logdir)
    start = time.perf_counter()
    for _ in range(steps):
        run()
    wall = (time.perf_counter() - start) / steps / per_run * 1000
    tf.profiler.experimental.stop()
    path = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True))[-1]
    space = xplane_pb2.XSpace()
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    by_type = collections.Counter()
    for plane in space.planes:
        if plane.name != "/host:CPU":
            continue
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            for ev in line.events:
                name = names.get(ev.metadata_id, "")
                if ":" not in name:  # TF op events are named "op_name:OpType"
                    continue
                op_type = name.rsplit(":", 1)[1].strip()
                if op_type in CONTAINER_OPS or op_type.startswith("__inference"):
                    continue
                by_type[op_type] += ev.duration_ps / 1e9  # ms
    return {k: v / steps / per_run for k, v in by_type.items()}, wall


# --------------------------------------------------------------------------- PyTorch
def profile_torch(run, steps: int, per_run: int = 1) -> tuple[dict, float]:
    import time

    from torch.profiler import ProfilerActivity, profile

    run()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(steps):
            run()
        wall = (time.perf_counter() - start) / steps / per_run * 1000
    by_op = {e.key: e.self_cpu_time_total / 1000 / steps / per_run for e in prof.key_averages()}
    return by_op, wall


def by_category(ops: dict) -> dict:
    out = collections.Counter()
    for name, ms in ops.items():
        out[categorise(name)] += ms
    return dict(out)


# ------------------------------------------------------------------------------ steps
def odenet_steps():
    import _odenet as O
    import tensorflow as tf
    import torch
    from torchdiffeq import odeint

    import odelayers

    tfunc = O.torch_odefunc()
    y0 = O.torch_initial_state()
    weights = O.export_weights(tfunc)
    y0_tf = tf.constant(O.to_nhwc(y0))
    cot = tf.ones_like(y0_tf)
    block = odelayers.ODEBlock(
        O.keras_dynamics(weights), method="rk4", num_steps=2, gradient="backprop"
    )
    block.build(y0_tf.shape)

    @tf.function
    def tf_step(y):
        with tf.GradientTape() as tape:
            tape.watch(y)
            loss = tf.reduce_sum(block(y, training=True) * cot)
        return tape.gradient(loss, [y] + block.trainable_variables)

    grid = torch.linspace(0.0, 1.0, 3)
    y0_t = torch.from_numpy(y0)

    def torch_step():
        for p in tfunc.parameters():
            p.grad = None
        y = y0_t.clone().requires_grad_(True)
        out = odeint(
            tfunc,
            y,
            torch.tensor([0.0, 1.0]),
            method="rk4",
            options={"grid_constructor": lambda f, y0, t: grid},
        )
        out[-1].sum().backward()

    return (lambda: [g.numpy() for g in tf_step(y0_tf)]), torch_step


def resnet_steps(per_run: int):
    """Keras: one ``model.fit`` over ``per_run`` batches (its per-call set-up amortised
    as in an epoch); PyTorch: the same number of batches."""
    import _resnet_torch as RT
    import numpy as np
    import torch
    from bench_resnet_epoch import BATCH, build_keras, load_images

    x, y = load_images()
    x, y = x[: BATCH * per_run], y[: BATCH * per_run]
    model = build_keras()
    tmodel = RT.TorchResNet()
    step = RT.make_trainer(tmodel)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    yt = torch.from_numpy(y)

    def keras_step():
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=True)

    def torch_step():
        tmodel.train()
        for i in range(per_run):
            step(xt[i * BATCH : (i + 1) * BATCH], yt[i * BATCH : (i + 1) * BATCH])

    return keras_step, torch_step


def main(argv=None) -> int:
    args = parse_args(argv)
    threads = H.configure_threads(args.threads, args.inter_op_threads)
    record = H.Record(f"profile_{args.model}_t{args.threads}", args, threads)
    per_run = 1 if args.model == "odenet" else 8
    runs = args.steps if args.model == "odenet" else max(1, args.steps // per_run)
    tf_run, torch_run = odenet_steps() if args.model == "odenet" else resnet_steps(per_run)
    tf_ops, tf_wall = profile_tf(tf_run, runs, per_run)
    torch_ops, torch_wall = profile_torch(torch_run, runs, per_run)
    cats_tf, cats_torch = by_category(tf_ops), by_category(torch_ops)
    names = sorted(
        set(cats_tf) | set(cats_torch), key=lambda c: -(cats_tf.get(c, 0) + cats_torch.get(c, 0))
    )
    rows = [
        [
            c,
            cats_tf.get(c, 0.0),
            cats_torch.get(c, 0.0),
            cats_tf.get(c, 0.0) - cats_torch.get(c, 0.0),
        ]
        for c in names
    ]
    rows.append(
        [
            "sum of ops",
            sum(cats_tf.values()),
            sum(cats_torch.values()),
            sum(cats_tf.values()) - sum(cats_torch.values()),
        ]
    )
    rows.append(["step wall time (profiled)", tf_wall, torch_wall, tf_wall - torch_wall])
    top = lambda ops: sorted(ops.items(), key=lambda kv: -kv[1])[:12]  # noqa: E731
    md = (
        f"Per training step, milliseconds ({args.model}, {args.steps} profiled steps). "
        "TensorFlow has no group-norm kernel: its group norms appear as reductions and "
        "element-wise ops.\n\n"
        + H.markdown_table(["category", "TensorFlow ms", "PyTorch ms", "difference ms"], rows)
        + "\n\n### Top TensorFlow op types\n\n"
        + H.markdown_table(
            ["op type", "ms / step", "category"], [[k, v, categorise(k)] for k, v in top(tf_ops)]
        )
        + "\n\n### Top PyTorch ops (self time)\n\n"
        + H.markdown_table(
            ["op", "ms / step", "category"], [[k, v, categorise(k)] for k, v in top(torch_ops)]
        )
    )
    res = {
        "model": args.model,
        "steps": args.steps,
        "categories_tf_ms": cats_tf,
        "categories_torch_ms": cats_torch,
        "tf_ops_ms": tf_ops,
        "torch_ops_ms": torch_ops,
        "wall_ms": {"tensorflow": tf_wall, "torch": torch_wall},
    }
    path = record.finish(res, md)
    print(md)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
