"""One training epoch of the report's residual CNN: Keras (``reproduce.resnet``) vs a PyTorch twin.

The Keras model is ``reproduce.resnet.build_resnet()`` trained with ``model.fit`` as the
reproduction trains it (numpy arrays, batch 32, Adam 1e-3, binary cross-entropy);
the PyTorch model (``_resnet_torch.py``) has the same layers, sizes and
hyper-parameters; the parameter counts are asserted equal. Data: the first 1300
images of the generated stand-in (``reproduce.data.synthetic_train``), preprocessed
as the R script does; PyTorch gets them in NCHW.

Measured, interleaved: ``--batches N`` training batches per repetition (steady-state
step time, extrapolated to the epoch's 41 batches), then one full epoch of each.
Ratio = Keras / PyTorch (goal <= 1.0).

``--levers`` also measures the Keras-side settings listed in the README (each against
the same PyTorch baseline in the same process, or in a fresh subprocess when the
setting must be fixed before TensorFlow starts: oneDNN, threads, data layout).

Run: ``python benchmarks/bench_resnet_epoch.py`` (about 4-5 minutes on 2 cores);
``--no-full-epoch`` for the steady-state figure alone.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys

import _harness as H

N_IMAGES = 1300
BATCH = 32


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    H.add_common_arguments(parser)
    parser.add_argument(
        "--batches", type=int, default=6, help="training batches per timed repetition (default 6)"
    )
    parser.add_argument(
        "--no-full-epoch", action="store_true", help="skip the one full epoch of each framework"
    )
    parser.add_argument(
        "--levers",
        action="store_true",
        help="also measure the Keras-side levers (adds ~10 minutes)",
    )
    parser.add_argument("--variant", default="default", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.reps is None:
        args.reps = 3
    return args


# ---------------------------------------------------------------------------- data
def load_images():
    """1300 stand-in images [n, 75, 75, 3] float32 and one-hot labels [n, 2]."""
    import pandas as pd

    from reproduce.data import synthetic_train
    from reproduce.preprocess import resnet_inputs

    df = pd.DataFrame(synthetic_train(N_IMAGES, seed=0))
    for band in ("band_1", "band_2"):
        df[band] = df[band].map(lambda v: __import__("numpy").asarray(v, dtype="float64"))
    return resnet_inputs(df, preprocessing="r")


# ---------------------------------------------------------------------------- models
def build_keras(variant: str = "default"):
    """The report's model, compiled as ``reproduce.resnet`` does, with a lever applied.

    Variants: ``default``; ``spe8`` (``steps_per_execution=8``); ``xla``
    (``jit_compile=True``); ``channels_first`` (the same layers in NCHW; set in a
    fresh process, see :func:`main`).
    """
    import keras

    from reproduce import resnet

    keras.utils.set_random_seed(0)
    if variant == "channels_first":
        keras.config.set_image_data_format("channels_first")
        original = keras.layers.BatchNormalization

        def channels_first_bn(*args, **kwargs):  # same layer, normalising axis 1
            return original(*args, axis=1, **kwargs)

        keras.layers.BatchNormalization = channels_first_bn
        try:
            inp = keras.Input(shape=(3, 75, 75), name="img")
            x = resnet.batch_norm("input_bn")(inp)
            stem = resnet.input_cnn(x)
            r = keras.layers.Add()([resnet.residual_branch(stem, 1), stem])
            r = keras.layers.Add()([resnet.residual_branch(r, 2), stem])
            model = keras.Model(inp, resnet.output_head(resnet.top_cnn(r)))
            model = resnet.compile_like_r(model)
        finally:
            keras.layers.BatchNormalization = original
        return model
    model = resnet.build_resnet()
    if variant in ("spe8", "xla"):
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=resnet.ADAM_LEARNING_RATE),
            loss="binary_crossentropy",
            metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
            steps_per_execution=8 if variant == "spe8" else 1,
            jit_compile=(variant == "xla"),
        )
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


# ---------------------------------------------------------------------------- timing
def keras_runner(model, x, y, n_batches: int | None, use_dataset: bool = False):
    """A call that trains ``n_batches`` batches (None: the whole epoch) with ``model.fit``."""
    n = len(x) if n_batches is None else n_batches * BATCH
    xs, ys = x[:n], y[:n]
    if use_dataset:
        import tensorflow as tf

        ds = (
            tf.data.Dataset.from_tensor_slices((xs, ys))
            .shuffle(n, seed=0)
            .batch(BATCH)
            .prefetch(tf.data.AUTOTUNE)
        )
        return lambda: model.fit(ds, epochs=1, verbose=0)
    return lambda: model.fit(xs, ys, batch_size=BATCH, epochs=1, shuffle=True, verbose=0)


def torch_runner(model, step, xt, yt, n_batches: int | None):
    import _resnet_torch as RT
    import torch

    gen = torch.Generator().manual_seed(0)
    n = len(xt) if n_batches is None else n_batches * BATCH
    return lambda: RT.train_epoch(model, step, xt[:n], yt[:n], BATCH, gen)


def measure(args, variant: str = "default") -> dict:
    """Interleaved steady-state (and optionally full-epoch) timings of Keras vs PyTorch."""
    import _resnet_torch as RT
    import numpy as np
    import torch

    x, y = load_images()
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    yt = torch.from_numpy(y)
    torch.manual_seed(0)
    tmodel = RT.TorchResNet()
    tstep = RT.make_trainer(tmodel)

    variants = (
        [variant] if variant != "in-process levers" else ["default", "spe8", "xla", "tf.data"]
    )
    keras_models = {}
    for v in variants:
        keras_models[v] = build_keras("default" if v == "tf.data" else v)
    counts = check_parameter_counts(keras_models[variants[0]], tmodel)
    kx = np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if variant == "channels_first" else x

    # Warm-up: trace the full-batch and the last partial-batch (1300 = 40 x 32 + 20) shapes.
    warm = {
        f"keras {v}": keras_runner(
            m, kx[: BATCH + 20], y[: BATCH + 20], None, use_dataset=(v == "tf.data")
        )
        for v, m in keras_models.items()
    }
    warm["torch"] = torch_runner(tmodel, tstep, xt[: BATCH + 20], yt[: BATCH + 20], None)
    for fn in warm.values():
        fn()

    steady = {
        f"keras {v}": keras_runner(m, kx, y, args.batches, use_dataset=(v == "tf.data"))
        for v, m in keras_models.items()
    }
    steady["torch"] = torch_runner(tmodel, tstep, xt, yt, args.batches)
    times = H.interleaved(steady, reps=args.reps, warmup=0)
    n_epoch_batches = math.ceil(N_IMAGES / BATCH)
    out = {"parameters": counts, "batches_per_rep": args.batches, "reps": args.reps, "steady": {}}
    for name, ts in times.items():
        s = H.summarize(ts)
        out["steady"][name] = {
            **s,
            "per_batch_s": s["median_s"] / args.batches,
            "epoch_extrapolated_s": s["median_s"] / args.batches * n_epoch_batches,
        }
        if name != "torch":
            out["steady"][name]["ratio_to_torch"] = H.paired_ratio(times, name, "torch")
    if not args.no_full_epoch:
        full = {
            f"keras {variants[0]}": keras_runner(
                keras_models[variants[0]], kx, y, None, use_dataset=(variants[0] == "tf.data")
            ),
            "torch": torch_runner(tmodel, tstep, xt, yt, None),
        }
        ft = H.interleaved(full, reps=1, warmup=0)
        out["full_epoch"] = {name: ts[0] for name, ts in ft.items()}
        out["full_epoch"]["ratio"] = ft[f"keras {variants[0]}"][0] / ft["torch"][0]
    return out


# ---------------------------------------------------------------------------- levers
SUBPROCESS_LEVERS = {
    # name: (environment overrides, extra arguments)
    "oneDNN off (TF_ENABLE_ONEDNN_OPTS=0)": ({"TF_ENABLE_ONEDNN_OPTS": "0"}, []),
    "inter-op threads 2": ({}, ["--inter-op-threads", "2"]),
    "intra-op threads 2 (both frameworks)": ({}, ["--threads", "2"]),
    "channels first (NCHW)": ({}, ["--variant", "channels_first"]),
}


def run_subprocess_lever(name: str, args) -> dict:
    env_over, extra = SUBPROCESS_LEVERS[name]
    env = {**os.environ, **env_over}
    base = ["--threads", str(args.threads), "--inter-op-threads", str(args.inter_op_threads)]
    cmd = (
        [
            sys.executable,
            __file__,
            "--child",
            "--no-full-epoch",
            "--batches",
            str(args.batches),
            "--reps",
            str(args.reps),
        ]
        + base
        + extra
    )  # later options override earlier ones
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    args = parse_args(argv)
    threads = H.configure_threads(args.threads, args.inter_op_threads)
    if args.child:
        print(json.dumps(measure(args, args.variant), default=float))
        return 0
    record = H.Record("resnet_epoch", args, threads)
    res = measure(args)
    steady = res["steady"]["keras default"]
    res["headline"] = steady["ratio_to_torch"]["median"]
    print(
        f"steady state: Keras {steady['per_batch_s']:.3f} s/batch, PyTorch "
        f"{res['steady']['torch']['per_batch_s']:.3f} s/batch, ratio {res['headline']:.3f} "
        f"(goal <= 1.0)",
        flush=True,
    )
    if "full_epoch" in res:
        fe = res["full_epoch"]
        print(
            f"full epoch: Keras {fe['keras default']:.1f} s, PyTorch {fe['torch']:.1f} s, "
            f"ratio {fe['ratio']:.3f}",
            flush=True,
        )
    if args.levers:
        lever_args = argparse.Namespace(**{**vars(args), "no_full_epoch": True})
        inproc = measure(lever_args, "in-process levers")
        levers = {k: v for k, v in inproc["steady"].items() if k != "torch"}
        for name in SUBPROCESS_LEVERS:
            child = run_subprocess_lever(name, args)
            levers[name] = child.get("steady", {}).get(
                f"keras {'channels_first' if 'NCHW' in name else 'default'}", child
            )
            print(
                f"lever {name}: {json.dumps(levers[name].get('ratio_to_torch', levers[name]))}",
                flush=True,
            )
        res["levers"] = levers
    md = render_markdown(res)
    path = record.finish(res, md)
    print(f"wrote {path}")
    return 0


def render_markdown(res: dict) -> str:
    s = res["steady"]
    lines = [
        f"Keras / PyTorch, one training step of the report's residual CNN "
        f"({res['parameters']['total']:,} parameters, {res['parameters']['trainable']:,} "
        f"trainable, equal in both), batch {BATCH}: **{res['headline']:.3f}** "
        f"(goal <= 1.0, {H.goal_mark(res['headline'], 1.0)}).\n",
        H.markdown_table(
            [
                "framework",
                "s / batch",
                f"epoch ({math.ceil(N_IMAGES / BATCH)} batches), extrapolated s",
                "ratio to PyTorch",
            ],
            [
                [
                    k,
                    v["per_batch_s"],
                    v["epoch_extrapolated_s"],
                    v.get("ratio_to_torch", {}).get("median"),
                ]
                for k, v in s.items()
            ],
        ),
    ]
    if "full_epoch" in res:
        fe = res["full_epoch"]
        lines.append(
            f"\nOne full epoch ({N_IMAGES} images): Keras {fe['keras default']:.1f} s, "
            f"PyTorch {fe['torch']:.1f} s, ratio {fe['ratio']:.3f}."
        )
    if "levers" in res:
        lines.append("\n### Levers (Keras side; ratio to PyTorch measured in the same process)\n")
        lines.append(
            H.markdown_table(
                ["lever", "s / batch", "ratio to PyTorch"],
                [
                    [
                        k,
                        v.get("per_batch_s"),
                        v.get("ratio_to_torch", {}).get("median")
                        if "error" not in v
                        else v["error"],
                    ]
                    for k, v in res["levers"].items()
                ],
            )
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
