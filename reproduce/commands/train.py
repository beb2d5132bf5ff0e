"""``python -m reproduce dense|resnet|odenet|all``: argparse -> one :class:`RunConfig` per model and seed.

``all`` and several ``--train-seeds`` skip finished runs and stop at the first
run that does not finish, so rerunning the command resumes the sequence.
"""

from __future__ import annotations

import argparse
import dataclasses

from odelayers import FIXED_STEP_METHODS, GRADIENTS, METHODS
from reproduce import settings
from reproduce.engine import STRATEGIES, RunConfig

_DESCRIPTIONS = {
    "dense": "The report's dense network (appendix 7.1.2): flatten a 75x75 image, 4 x Dense(128, "
    "relu), sigmoid; SGD lr 0.01, binary cross-entropy.",
    "resnet": "The report's residual CNN (appendix 7.2.2): batch-normalised 5x5 conv stem, two "
    "residual blocks, conv 128/256/512, dense head, 2-way softmax; Adam(0.001).",
    "odenet": "The residual CNN with its two residual blocks replaced by one Neural ODE block "
    "over [0, 1] (the report's section 4, never trained there).",
    "all": "Run dense, resnet and odenet in turn with the same options.",
}


def register(subparsers) -> None:
    """Add the ``dense``, ``resnet``, ``odenet`` and ``all`` commands."""
    for name in (*settings.MODELS, "all"):
        parser = subparsers.add_parser(
            name, help=_DESCRIPTIONS[name], description=_DESCRIPTIONS[name]
        )
        _add_data_options(parser, dense_only=name == "dense")
        _add_training_options(parser)
        _add_output_options(parser)
        if name in ("odenet", "all"):
            _add_ode_options(parser)
        parser.set_defaults(func=run_command)


# ---------------------------------------------------------------- options


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _add_data_options(parser: argparse.ArgumentParser, dense_only: bool) -> None:
    g = parser.add_argument_group("data and split")
    g.add_argument(
        "--data",
        metavar="PATH",
        help="Kaggle's train.json (or train.json.7z). Default: $ICEBERG_DATA, then "
        "data/train.json, else a generated stand-in of 1604 records.",
    )
    g.add_argument(
        "--preprocessing",
        choices=settings.DENSE_PREPROCESSINGS if dense_only else settings.PREPROCESSINGS,
        default="r",
        help="'r' reproduces the R scripts' inputs bug for bug (the dense script's "
        "interleaved bands and unscaled test set); 'corrected' fixes them"
        + (
            "; 'r-array-only' keeps only the array() bug, 'r-scaling-only' only the "
            "test-scaling bug"
            if dense_only
            else ""
        )
        + ". Default: r.",
    )
    g.add_argument(
        "--seed",
        type=int,
        default=settings.SEED,
        help="set.seed() value for the 1300/304 split (and the training seed unless "
        f"--train-seed is given). Default: {settings.SEED}, as in the report.",
    )
    g.add_argument(
        "--train-seeds",
        "--train-seed",
        dest="train_seeds",
        type=int,
        nargs="+",
        metavar="N",
        help="seed(s) of the initial weights, the dropout masks and the shuffling, apart from "
        "the split's, which stays --seed's. Several (e.g. --train-seeds 1 2 3) train one run "
        "per seed in turn, each in its own folder, named with -t<N> where N differs from "
        "--seed; rerunning the command skips the finished ones. Default: the --seed value.",
    )
    g.add_argument(
        "--sample-kind",
        choices=settings.SAMPLE_KINDS,
        default=settings.SAMPLE_KIND,
        help="R's sample.kind for the split: 'Rounding' (R < 3.6, the report's era, "
        "default) or 'Rejection' (R >= 3.6).",
    )
    g.add_argument(
        "--limit-train",
        type=_positive_int,
        metavar="N",
        help="keep only the first N training images of the split (for quick checks).",
    )
    g.add_argument(
        "--limit-test",
        type=_positive_int,
        metavar="N",
        help="keep only the first N test images of the split.",
    )


def _add_training_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("training")
    g.add_argument(
        "--epochs",
        type=_positive_int,
        metavar="N",
        help=f"epochs to train. Default: {settings.EPOCHS} (the report's), or the "
        "--quick preset's.",
    )
    g.add_argument(
        "--batch-size",
        type=_positive_int,
        default=settings.BATCH_SIZE,
        metavar="N",
        help=f"mini-batch size. Default: {settings.BATCH_SIZE} (R keras' fit() default).",
    )
    g.add_argument(
        "--quick",
        action="store_true",
        help="preset for a fast end-to-end check: every image of the split, fewer "
        "epochs for every model (reproduce.settings.QUICK says how they were chosen); "
        "all three together take about 3 minutes on 2 CPU cores. Prints what it shrank.",
    )
    g.add_argument(
        "--semantics",
        choices=settings.SEMANTICS_OPTIONS,
        default=settings.SEMANTICS,
        help="what the binary cross-entropy and the batch normalisation compute: 'keras22' "
        "as R keras did in 2019 (Keras 2.2: clipped probabilities, zero-debiased moving "
        "statistics; default) or 'keras3' as Keras 3 does (cached logits, biased averages). "
        "See the README's section on fidelity.",
    )
    g.add_argument(
        "--deterministic",
        action="store_true",
        help="make TensorFlow's kernels deterministic (slower; same seed gives "
        "the same numbers on the same machine).",
    )
    g.add_argument(
        "--eager",
        action="store_true",
        help="run Keras eagerly, without compiling a graph: each batch is slower, "
        "but training starts at once (for debugging and tiny runs).",
    )
    g.add_argument(
        "--distribute",
        choices=STRATEGIES,
        help="train on several devices: 'mirrored' (TensorFlow's MirroredStrategy: every local "
        "GPU, or the CPU) or 'multiworker' (MultiWorkerMirroredStrategy: one process per worker, "
        "each given TF_CONFIG; only the chief writes the run folder); each batch of "
        "--batch-size images is split across all replicas.",
    )
    g.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=1,
        help="Keras' fit verbosity: 0 silent, 1 progress bar (default), 2 one "
        "line per epoch (better for log files).",
    )


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("output")
    g.add_argument(
        "--out",
        default="runs",
        metavar="DIR",
        help="parent folder of the run folder. Default: runs/.",
    )
    g.add_argument(
        "--run-name",
        metavar="NAME",
        help="run folder name. Default: {model}-{preprocessing}-{real|standin}-{quick|e<epochs>}.",
    )
    g.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="continue an interrupted run of the same name from its last "
        "completed epoch (default), or --no-resume to refuse to.",
    )
    g.add_argument(
        "--tensorboard",
        metavar="DIR",
        help="also write TensorBoard logs (loss, accuracy and, for the ODE-Net, the NFE per "
        "completed epoch) under DIR/<run name>; view with `tensorboard --logdir DIR`.",
    )
    g.add_argument(
        "--force",
        action="store_true",
        help="overwrite a run folder of the same name instead of refusing or resuming.",
    )


def _add_ode_options(parser: argparse.ArgumentParser) -> None:
    d = settings.ODENET_SOLVER
    g = parser.add_argument_group("ODE solver (odenet)")
    g.add_argument(
        "--method",
        default=d.method,
        choices=METHODS,
        help="ODE solver: 'dopri5' (adaptive Dormand-Prince), 'bdf' (adaptive, "
        "for stiff problems), or a fixed-step method ('euler', 'midpoint', "
        f"'rk4') with --step-size. Default: {d.method}.",
    )
    g.add_argument(
        "--rtol",
        type=_positive_float,
        default=d.rtol,
        help=f"relative tolerance of an adaptive solver. Default: {d.rtol}.",
    )
    g.add_argument(
        "--atol",
        type=_positive_float,
        default=d.atol,
        help=f"absolute tolerance of an adaptive solver. Default: {d.atol}.",
    )
    g.add_argument(
        "--gradient",
        choices=GRADIENTS,
        default=d.gradient,
        help="'adjoint' solves the adjoint ODE backwards (constant memory, the "
        "report's section 4.1.2); 'backprop' differentiates through the "
        f"solver's steps. Default: {d.gradient}.",
    )
    g.add_argument(
        "--step-size",
        type=_positive_float,
        default=None,
        metavar="H",
        help="fixed step for fixed-step methods (e.g. --method rk4 --step-size 0.25). Default: "
        f"{d.step_size} for the fixed-step methods; none for the adaptive ones.",
    )
    g.add_argument(
        "--hidden-channels",
        type=_positive_int,
        default=settings.ODENET_HIDDEN_CHANNELS,
        metavar="N",
        help="channels inside the dynamics (the R branch has 128). Default: "
        f"{settings.ODENET_HIDDEN_CHANNELS}.",
    )
    g.add_argument(
        "--trainable-t1",
        action="store_true",
        help="learn the ODE block's end time t1 (starting at 1, kept above t0 = 0) with the "
        "other weights; history.csv logs it per epoch (column t1), metrics.json the final "
        "value (learned_t1). Fixed-step methods keep their number of steps. Default: off.",
    )


# ---------------------------------------------------------------- running


def _step_size(args: argparse.Namespace, default) -> float | None:
    """--step-size, else the default's step for a fixed-step method and none for an adaptive one."""
    if args.step_size is not None or args.method not in FIXED_STEP_METHODS:
        return args.step_size
    return default.step_size if default.is_fixed_step else 0.25


def resolve_options(
    model: str, args: argparse.Namespace, train_seed: int | None = None
) -> RunConfig:
    """``args`` for ``model``, the quick preset applied where options were not given."""
    epochs, limit_train, limit_test = args.epochs, args.limit_train, args.limit_test
    shrunk = []
    if args.quick:
        preset = settings.QUICK[model]
        if epochs is None:
            epochs = preset.epochs
            shrunk.append(f"epochs {settings.EPOCHS} -> {preset.epochs}")
        if limit_train is None and preset.limit_train is not None:
            limit_train = preset.limit_train
            shrunk.append(
                f"training images -> the first {preset.limit_train} of the training "
                f"split (of {settings.R_N_TRAIN} on the report's data)"
            )
        if limit_test is None and preset.limit_test is not None:
            limit_test = preset.limit_test
            shrunk.append(
                f"test images -> the first {preset.limit_test} of the test split "
                f"(of {settings.R_N_RECORDS - settings.R_N_TRAIN})"
            )
    solver = settings.ODENET_SOLVER
    if hasattr(args, "method"):  # the ODE options exist for odenet and all only
        solver = dataclasses.replace(
            solver,
            method=args.method,
            rtol=args.rtol,
            atol=args.atol,
            gradient=args.gradient,
            step_size=_step_size(args, solver),
        )
    argv = getattr(args, "argv", None)
    return RunConfig(
        model=model,
        data=args.data,
        preprocessing=args.preprocessing,
        seed=args.seed,
        train_seed=train_seed if train_seed is not None else (training_seeds(args) or [None])[0],
        semantics=args.semantics,
        sample_kind=args.sample_kind,
        limit_train=limit_train,
        limit_test=limit_test,
        epochs=epochs or settings.EPOCHS,
        batch_size=args.batch_size,
        quick=args.quick,
        quick_shrank=tuple(shrunk),
        deterministic=args.deterministic,
        eager=args.eager,
        verbose=args.verbose,
        out=args.out,
        run_name=args.run_name,
        in_all=args.command == "all",
        skip_finished=len(training_seeds(args)) > 1,
        resume=args.resume,
        force=args.force,
        argv=None if argv is None else tuple(str(a) for a in argv),
        solver=solver,
        hidden_channels=getattr(args, "hidden_channels", settings.ODENET_HIDDEN_CHANNELS),
        trainable_t1=model == "odenet" and getattr(args, "trainable_t1", False),
        tensorboard=args.tensorboard,
        distribute=args.distribute,
    )


def run_command(args: argparse.Namespace) -> int:
    """Run the model(s) the command names; exit status 0 when every run finished.

    An interrupted run raises ``KeyboardInterrupt`` and a failed one a
    :class:`~reproduce.errors.ReproduceError`; both stop ``all`` at once and
    the command line turns them into exit statuses 130 and 2.
    """
    from reproduce._quiet import quiet_tensorflow

    quiet_tensorflow()  # before anything imports TensorFlow
    models = settings.MODELS if args.command == "all" else (args.command,)
    seeds = training_seeds(args) or [None]
    finished = []
    # Seed by seed, every model of a seed before the next seed: an interrupted
    # `all` leaves complete sets of the three models behind.
    for index, seed in enumerate(seeds):
        if len(seeds) > 1:
            print(f"training seed {seed} ({index + 1} of {len(seeds)})")
        for model in models:
            config = resolve_options(model, args, seed)
            if config.quick_shrank and index == 0:
                print(f"--quick shrank {model}: " + "; ".join(config.quick_shrank))
            finished.append(_script_main(model)(config))
    if args.quick:
        print("\n".join(quick_closing_lines(finished)))
    return 0


def quick_closing_lines(metrics: list[dict]) -> list[str]:
    """How far a quick run is from the report's: epochs, accuracy, and the full run's time.

    The full run's time is this machine's measured seconds per epoch times the
    report's 150 epochs: an estimate, printed as one.
    """
    lines = ["", "This was a quick run, not the report's:"]
    per_model: dict[str, list[float]] = {}  # seconds per epoch, one entry per training seed
    for m in metrics:
        if not m or m.get("status") != "finished":
            continue
        per_epoch = m.get("seconds_per_epoch") or 0.0
        per_model.setdefault(m["model"], []).append(per_epoch)
        lines.append(
            f"  {m['model']}: {m['epochs']} of the report's {settings.EPOCHS} epochs, test "
            f"accuracy {100 * m['test_accuracy']:.1f} % (training seed {m.get('train_seed')}); "
            f"{per_epoch:.0f} s per epoch here"
        )
    if {"resnet", "odenet"} & set(per_model):
        lines.append(
            "  After so few epochs one epoch's test accuracy of the CNNs can lie 20 points from "
            "the next: inference uses the batch norms' moving statistics, averaged in training "
            "with dropout on while the weights still change (history.csv's "
            "test_accuracy_batch_stats holds steady; README, Results)."
        )
    # One run of each model, whatever the number of seeds above: what `all` trains.
    full_s = settings.EPOCHS * sum(sum(v) / len(v) for v in per_model.values())
    lines.append(
        f"  The report's runs: python -m reproduce all (about {full_s / 3600:.1f} h on this "
        "machine, estimated from the epochs above; several training seeds: --train-seeds 1 2 3)."
    )
    return lines


def training_seeds(args: argparse.Namespace) -> list[int]:
    """The training seeds asked for (``[]``: none given), each once.

    Raises:
        ReproduceError: a seed is given twice (its two runs would share one folder).
    """
    from reproduce.errors import ReproduceError

    seeds = list(getattr(args, "train_seeds", None) or [])
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ReproduceError(
            f"--train-seeds repeats {', '.join(map(str, repeated))}: give each seed once"
        )
    return seeds


def _script_main(model: str):
    """The model's script, ``main(options)``.

    Imported here rather than at the top: the scripts import Keras, and
    ``--help`` should answer at once.
    """
    from reproduce import dense, odenet, resnet

    return {"dense": dense.main, "resnet": resnet.main, "odenet": odenet.main}[model]
