"""``python -m reproduce dense|resnet|odenet|all``: argparse -> one :class:`RunConfig` per model and seed.
``all`` and several ``--train-seeds`` skip finished runs and stop at the first run that does not
finish, so rerunning the command resumes the sequence."""

import argparse
import dataclasses
import shlex
import time

from reproduce import settings
from reproduce.commands import COUNT, NAME, POSITIVE, SEED, STEP, checked, folder
from reproduce.data import resolve_data
from reproduce.engine import STRATEGIES, RunConfig
from reproduce.errors import ReproduceError
from reproduce.preprocess import default_n_train

_DESCRIPTIONS = {
    "dense": "The report's dense network (appendix 7.1.2): 4 x Dense(128, relu), sigmoid; SGD.",
    "resnet": "The report's residual CNN (appendix 7.2.2), trained with Adam(0.001).",
    "odenet": "The residual CNN, its two residual blocks replaced by one Neural ODE block.",
    "all": "Run dense, resnet and odenet in turn with the same options.",
}
_CONSTANT = ", a constant classifier (one class for every test image)"
_HELP = {
    "--data": "Kaggle's train.json (or .7z); default: $ICEBERG_DATA, then data/train.json, else a generated stand-in of 1604 records",
    "--preprocessing": "'r': the R scripts' inputs, bugs included; 'corrected' fixes them (%(default)s)",
    "--seed": "set.seed() of the split, 0 .. 2**31 - 1: negative seeds, which R takes, are refused (default: %(default)s)",
    "--train-seeds": "seed(s) of the weights, dropout and shuffling (default: --seed); several train one run each in turn, in folders named -t<N>",
    "--sample-kind": "R's sample.kind of the split: Rounding (R < 3.6, the report's; default)",
    "--semantics": "loss and batch norm of R keras' Keras 2.2 (default) or of Keras 3",
    "--out": "parent folder (%(default)s)",
    "--tensorboard": "also log to DIR/<run name>",
    "--resume": "continue an unfinished run of the same name from its last epoch",
    "--validation": "hold out the last N training images and score on them instead of the test images (for choosing settings: the test images stay unseen)",
    "--gradient": "'adjoint': constant memory; 'backprop' through the solver's steps (default: %(default)s)",
}


def register(subparsers) -> None:
    """Add the ``dense``, ``resnet``, ``odenet`` and ``all`` commands."""
    for name in (*settings.MODELS, "all"):
        text, h = _DESCRIPTIONS[name], _HELP
        parser = subparsers.add_parser(name, help=text, description=text)
        parser.set_defaults(func=run_command)
        count, default = {"type": COUNT, "metavar": "N"}, "(default: %(default)s)"
        g = parser.add_argument_group("data and split")
        g.add_argument("--data", metavar="PATH", help=h["--data"])
        modes = settings.DENSE_PREPROCESSINGS if name == "dense" else settings.PREPROCESSINGS
        g.add_argument("--preprocessing", choices=modes, default="r", help=h["--preprocessing"])
        g.add_argument("--seed", type=SEED, default=settings.SEED, help=h["--seed"])
        seeds = {"dest": "train_seeds", "type": SEED, "nargs": "+", "metavar": "N"}
        g.add_argument("--train-seeds", "--train-seed", **seeds, help=h["--train-seeds"])
        kinds = {"choices": settings.SAMPLE_KINDS, "default": settings.SAMPLE_KIND}
        g.add_argument("--sample-kind", **kinds, help=h["--sample-kind"])
        g.add_argument("--limit-train", **count, help="keep the first N training images")
        g.add_argument("--limit-test", **count, help="keep the first N test images")
        g.add_argument("--validation", **count, help=h["--validation"])

        g = parser.add_argument_group("training")
        g.add_argument("--epochs", **count, help="default: 150, or the --quick preset's")
        g.add_argument("--batch-size", **count, default=settings.BATCH_SIZE, help=default)
        g.add_argument("--quick", action="store_true", help="fewer epochs (settings.QUICK)")
        semantics = {"choices": settings.SEMANTICS_OPTIONS, "default": settings.SEMANTICS}
        g.add_argument("--semantics", **semantics, help=h["--semantics"])
        g.add_argument("--deterministic", action="store_true", help="deterministic kernels")
        g.add_argument("--eager", action="store_true", help="run Keras eagerly (debugging)")
        where = "every local device, or a process per worker (TF_CONFIG)"
        g.add_argument("--distribute", choices=STRATEGIES, help=where)
        shown = "0 silent, 1 progress bar, 2 a line per epoch"
        g.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1, help=shown)

        g = parser.add_argument_group("output")
        g.add_argument("--out", type=folder, default="runs", metavar="DIR", help=h["--out"])
        g.add_argument("--run-name", type=NAME, metavar="NAME", help="run folder name")
        both = argparse.BooleanOptionalAction
        g.add_argument("--resume", action=both, default=True, help=h["--resume"])
        g.add_argument("--tensorboard", type=folder, metavar="DIR", help=h["--tensorboard"])
        g.add_argument("--force", action="store_true", help="overwrite a run of the same name")
        if name in ("odenet", "all"):
            _add_ode_options(parser.add_argument_group("ODE solver (odenet)"), default)


def _add_ode_options(g, default: str) -> None:
    d, number = settings.ODENET_SOLVER, {"type": POSITIVE}
    g.add_argument("--method", choices=settings.METHODS, default=d["method"], help=default)
    g.add_argument("--rtol", **number, default=d["rtol"], help=f"adaptive solvers' {default}")
    g.add_argument("--atol", **number, default=d["atol"], help=f"adaptive solvers' {default}")
    gradients = {"choices": settings.GRADIENTS, "default": d["gradient"]}
    g.add_argument("--gradient", **gradients, help=_HELP["--gradient"])
    step = f"euler/midpoint/rk4 step ({settings.FIXED_STEP_SIZE})"
    g.add_argument("--step-size", type=STEP, metavar="H", help=step)
    # Far wider than the R residual branch (128), yet weights that build in memory.
    wide = {"type": checked(int, lambda v: 0 < v <= 1024, "from 1 to 1024"), "metavar": "N"}
    channels = settings.ODENET_HIDDEN_CHANNELS
    g.add_argument("--hidden-channels", **wide, default=channels, help=f"in the dynamics {default}")
    g.add_argument("--trainable-t1", action="store_true", help="learn the block's end time t1")


def resolve_options(model: str, args, train_seed: int | None = None) -> RunConfig:
    """``args`` for ``model``, the quick preset applied where options were not given."""
    fields = {field.name for field in dataclasses.fields(RunConfig)}
    options = {key: value for key, value in vars(args).items() if key in fields}
    quick, shrunk, seeds = settings.QUICK[model] if args.quick else None, [], training_seeds(args)
    options["epochs"] = args.epochs or (quick.epochs if quick else settings.EPOCHS)
    if quick and not args.epochs:
        shrunk.append(f"epochs {settings.EPOCHS} -> {options['epochs']}")
    for key, side in (("limit_train", "training"), ("limit_test", "test")):
        if quick and options.get(key) is None and getattr(quick, key) is not None:
            options[key] = getattr(quick, key)
            shrunk.append(f"{side} images -> the first {options[key]} of the {side} split")
    if "method" in options:  # the ODE options exist for odenet and all only
        fixed = options["method"] in settings.FIXED_STEP_METHODS
        if options["step_size"] is not None and not fixed:
            raise ReproduceError(f"--step-size: --method {options['method']} chooses its own "
                                 "steps from --rtol and --atol; a step size needs a fixed-step "
                                 f"method ({', '.join(settings.FIXED_STEP_METHODS)})")  # fmt: skip
        if options["step_size"] is None and fixed:
            options["step_size"] = settings.FIXED_STEP_SIZE
        options["trainable_t1"] = model == "odenet" and args.trainable_t1
    if options.get("argv") is not None:
        options["argv"] = tuple(map(str, options["argv"]))
    train_seed = train_seed if train_seed is not None else (seeds or [None])[0]
    options.update(model=model, train_seed=train_seed, quick_shrank=tuple(shrunk))
    return RunConfig(**options, in_all=args.command == "all", skip_finished=len(seeds) > 1)


def run_command(args: argparse.Namespace) -> int:
    """Run the model(s) the command names, seed by seed (an interrupted `all` leaves whole sets);
    an interrupted run raises ``KeyboardInterrupt``, a failed one ``ReproduceError`` (exit 130, 2)."""
    check_limits(args)  # before Keras is imported: a refusal comes at once
    from reproduce import dense, odenet, resnet  # imports Keras: not for --help

    scripts = {"dense": dense.main, "resnet": resnet.main, "odenet": odenet.main}
    models = settings.MODELS if args.command == "all" else (args.command,)
    seeds = training_seeds(args) or [None]
    plan, finished, started = [(s, m) for s in seeds for m in models], [], time.monotonic()
    for index, (seed, model) in enumerate(plan):
        if len(seeds) > 1 and model == models[0]:
            print(f"training seed {seed} ({index // len(models) + 1} of {len(seeds)})")
        if len(plan) > 1:
            print(progress_line(args, plan, finished, time.monotonic() - started))
        config = resolve_options(model, args, seed)
        if config.quick_shrank and index < len(models):
            print(f"--quick shrank {model}: " + "; ".join(config.quick_shrank))
        began, metrics = time.monotonic(), scripts[model](config)
        finished.append({**metrics, "elapsed_s": time.monotonic() - began})
    if args.quick:
        print("\n".join(quick_closing_lines(finished)))
    return 0


def progress_line(args, plan: list, finished: list[dict], elapsed_s: float) -> str:
    """``[run k of n: model; X min so far; about Y min left]``: Y once each model left has a time
    per epoch, set-up included, from a finished run."""
    timed = [m for m in finished if m.get("wall_time_s") and m.get("epochs")]
    rates = {m["model"]: max(m["elapsed_s"], m["wall_time_s"]) / m["epochs"] for m in timed}
    k = len(finished)
    left = [(rates.get(m), resolve_options(m, args, seed).epochs) for seed, m in plan[k:]]
    line = f"[run {k + 1} of {len(plan)}: {plan[k][1]}; {elapsed_s / 60:.1f} min so far"
    if finished and all(rate for rate, _ in left):
        line += f"; about {sum(rate * epochs for rate, epochs in left) / 60:.1f} min left"
    return line + "]"


def check_limits(args: argparse.Namespace) -> None:
    """Refuse a --limit-train, --limit-test or --validation above the images on its side of R's
    split (--validation must leave training images)."""
    limited = args.limit_train or args.limit_test or args.validation
    if limited and (n := len(resolve_data(args.data)[0])) > 1:
        if (args.validation or 0) >= (size := default_n_train(n)):
            raise ReproduceError(f"--validation: the split of these {n} records has {size} "
                                 f"training images; hold out fewer than {size}")  # fmt: skip
        for side, size in (("train", default_n_train(n)), ("test", n - default_n_train(n))):
            if (getattr(args, f"limit_{side}") or 0) > size:
                raise ReproduceError(f"--limit-{side}: the split of these {n} records has {size} "
                                     f"{side} images; give at most {size}, or leave "
                                     f"--limit-{side} out")  # fmt: skip


def quick_closing_lines(metrics: list[dict]) -> list[str]:
    """How far a quick run is from the report's: epochs, accuracy, the full run's estimated time
    (from the measured time per training image, so a run on fewer images scales up), what next."""
    lines = ["", "This was a quick run, not the report's:"]
    per_model: dict[str, list[float]] = {}  # seconds per full epoch, one entry per training seed
    for m in metrics:
        if m and m.get("status") == "finished":
            per_epoch = m.get("seconds_per_epoch") or 0.0
            full_epoch = per_epoch * settings.R_N_TRAIN / (m.get("n_train") or settings.R_N_TRAIN)
            per_model.setdefault(m["model"], []).append(full_epoch)
            constant = any(s >= 1.0 for s in (m.get("predicted_class_shares") or {}).values())
            lines.append(
                f"  {m['model']}: {m['epochs']} of the report's {settings.EPOCHS} epochs, test "
                f"accuracy {100 * m['test_accuracy']:.1f} %{_CONSTANT * constant} (training seed "
                f"{m.get('train_seed')}); {per_epoch:.1f} s per epoch here"
            )
    if {"resnet", "odenet"} & set(per_model):
        lines.append(
            "  The CNNs' test accuracy swings from epoch to epoch this early: the batch norms' "
            "moving statistics lag the weights (history.csv: test_accuracy_batch_stats)."
        )
    full_s = settings.EPOCHS * sum(sum(v) / len(v) for v in per_model.values())
    out = shlex.quote(str(metrics[0].get("config", {}).get("out", "runs"))) if metrics else "runs"
    lines += [
        f"  The report's runs: python -m reproduce all (about {full_s / 3600:.1f} h on this "
        "machine, estimated from the time per training image above).",
        f"Next: python -m reproduce figures --runs {out} --out {out}/figures"
        "   (the report's figures from these runs)",
        f"      python -m reproduce compare --runs {out} --out {out}"
        "   (the tables beside the report's numbers)",
    ]
    return lines


def training_seeds(args: argparse.Namespace) -> list[int]:
    """The training seeds asked for (``[]``: none given); a seed given twice is refused."""
    seeds = list(getattr(args, "train_seeds", None) or [])
    if repeated := sorted({s for s in seeds if seeds.count(s) > 1}):
        raise ReproduceError(
            f"--train-seeds repeats {', '.join(map(str, repeated))}: give each seed once"
        )
    return seeds
