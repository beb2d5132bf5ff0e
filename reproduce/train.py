"""Training commands: ``python -m reproduce dense|resnet|odenet|all``.

Each command runs one model's script (:mod:`reproduce.dense`,
:mod:`reproduce.resnet`, :mod:`reproduce.odenet`) and leaves one run folder
under ``--out`` (``metrics.json``, ``history.csv``, ``curves.png``, ``log.txt``,
``model.keras``; see :mod:`reproduce.engine.run`). ``all`` runs the three in turn.

Defaults are the report's settings: 150 epochs, batch 32, the split of
``set.seed(1); sample(1:1604, 1300)`` with R 3.5's sampler, the R scripts'
preprocessing. ``--quick`` is a preset that runs all three models end to end on
2 CPU cores in under 10 minutes (see :data:`QUICK`); it prints what it shrank.
Options given explicitly (``--epochs``, ``--limit-train``, ``--limit-test``)
override the preset.

Decisions a user may want to know:

* The run name defaults to ``{model}-{preprocessing}-{real|standin}-{quick|e<epochs>}``;
  ``--limit-train``/``--limit-test`` outside ``--quick`` add ``-n<train>x<test>``
  so a shortened run never resumes into a full run's folder. With ``all``,
  ``--run-name NAME`` names the runs ``NAME-dense``, ``NAME-resnet``, ``NAME-odenet``.
* The R scripts hard-code 1300 training records out of 1604. On a data set of
  another size (a user's subset) the training share stays 1300/1604, rounded
  (:func:`reproduce.preprocess.default_n_train`).
* ``all`` stops at the first run that does not finish (interrupted or failed),
  so Ctrl-C stops the whole sequence. Rerunning the same ``all`` command skips
  the runs already finished and resumes the interrupted one (``--force``
  retrains them all); a single-model command refuses to overwrite a finished
  run without ``--force``.
* The solver settings, ``--sample-kind`` and the ``--limit-*`` values must match
  for a run to be resumed, like the epochs, batch size and seed.
"""

from __future__ import annotations

import argparse
import dataclasses

MODELS = ("dense", "resnet", "odenet")
#: The R scripts' split: ``sample(1:1604, 1300)``.
R_N_RECORDS, R_N_TRAIN = 1604, 1300


@dataclasses.dataclass(frozen=True)
class QuickPreset:
    """What ``--quick`` shrinks for one model: epochs and the images kept on each side of the split."""

    epochs: int
    limit_train: int | None  # None: every training image
    limit_test: int | None


#: Measured on 2 CPU cores shared with other work (TensorFlow 2.20, stand-in data):
#: ``python -m reproduce all --quick`` took 3 min 4 s in all, start-up included, at a
#: load of about 3 (dense 7 s, residual CNN 42 s, ODE-Net 87 s of training and
#: evaluation), and 7 min 31 s at a load of about 7 with a larger ODE dynamics.
#: The dense network is cheap, so it keeps every image; the CNNs cost 35-80 s per
#: full epoch here, so they train on a subset for a few epochs -- enough to show
#: the loss falling, not to learn.
QUICK = {
    "dense": QuickPreset(epochs=30, limit_train=None, limit_test=None),
    "resnet": QuickPreset(epochs=3, limit_train=320, limit_test=96),
    "odenet": QuickPreset(epochs=3, limit_train=320, limit_test=96),
}

DEFAULT_EPOCHS = 150
DEFAULT_BATCH_SIZE = 32


@dataclasses.dataclass(frozen=True)
class OdeDefaults:
    """Default solver settings and size of the ODE-Net (:mod:`reproduce.odenet` documents why).

    They live here, not in :mod:`reproduce.odenet`, so that ``--help`` can show
    them without importing Keras.
    """

    method: str = "dopri5"
    rtol: float = 1e-3
    atol: float = 1e-3
    gradient: str = "adjoint"
    step_size: float | None = None
    hidden_channels: int = 32
    kernel_size: int = 3


ODE_DEFAULTS = OdeDefaults()
ODE_METHODS = ("dopri5", "bdf", "euler", "midpoint", "rk4")


# ---------------------------------------------------------------- command line


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


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("data and split")
    g.add_argument("--data", metavar="PATH",
                   help="Kaggle's train.json (or train.json.7z). Default: $ICEBERG_DATA, then "
                        "data/train.json, else a generated stand-in of 1604 records.")
    g.add_argument("--preprocessing", choices=("r", "corrected"), default="r",
                   help="'r' reproduces the R scripts' inputs bug for bug (the dense script's "
                        "interleaved bands and unscaled test set); 'corrected' fixes them. "
                        "Default: r.")
    g.add_argument("--seed", type=int, default=1,
                   help="set.seed() value for the 1300/304 split, also seeds weight "
                        "initialisation and shuffling. Default: 1, as in the report.")
    g.add_argument("--sample-kind", choices=("Rounding", "Rejection"), default="Rounding",
                   help="R's sample.kind for the split: 'Rounding' (R < 3.6, the report's era, "
                        "default) or 'Rejection' (R >= 3.6).")
    g.add_argument("--limit-train", type=_positive_int, metavar="N",
                   help="keep only the first N training images of the split (for quick checks).")
    g.add_argument("--limit-test", type=_positive_int, metavar="N",
                   help="keep only the first N test images of the split.")

    g = parser.add_argument_group("training")
    g.add_argument("--epochs", type=_positive_int, metavar="N",
                   help=f"epochs to train. Default: {DEFAULT_EPOCHS} (the report's), or the "
                        "--quick preset's.")
    g.add_argument("--batch-size", type=_positive_int, default=DEFAULT_BATCH_SIZE, metavar="N",
                   help=f"mini-batch size. Default: {DEFAULT_BATCH_SIZE} (R keras' fit() default).")
    g.add_argument("--quick", action="store_true",
                   help="preset for a fast end-to-end check: fewer epochs for every model and "
                        "a subset of images for the CNNs; all three together take under 10 "
                        "minutes on 2 CPU cores. Prints what it shrank.")
    g.add_argument("--deterministic", action="store_true",
                   help="make TensorFlow's kernels deterministic (slower; same seed gives "
                        "the same numbers on the same machine).")
    g.add_argument("--eager", action="store_true",
                   help="run Keras eagerly, without compiling a graph: each batch is slower, "
                        "but training starts at once (for debugging and tiny runs).")
    g.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                   help="Keras' fit verbosity: 0 silent, 1 progress bar (default), 2 one "
                        "line per epoch (better for log files).")

    g = parser.add_argument_group("output")
    g.add_argument("--out", default="results", metavar="DIR",
                   help="parent folder of the run folder. Default: results/.")
    g.add_argument("--run-name", metavar="NAME",
                   help="run folder name. Default: "
                        "{model}-{preprocessing}-{real|standin}-{quick|e<epochs>}.")
    g.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="continue an interrupted run of the same name from its last "
                        "completed epoch (default), or --no-resume to refuse to.")
    g.add_argument("--force", action="store_true",
                   help="overwrite a run folder of the same name instead of refusing or resuming.")


def _add_ode_options(parser: argparse.ArgumentParser) -> None:
    d = ODE_DEFAULTS
    g = parser.add_argument_group("ODE solver (odenet)")
    g.add_argument("--method", default=d.method, choices=ODE_METHODS,
                   help="ODE solver: 'dopri5' (adaptive Dormand-Prince), 'bdf' (adaptive, "
                        "for stiff problems), or a fixed-step method ('euler', 'midpoint', "
                        f"'rk4') with --step-size. Default: {d.method}.")
    g.add_argument("--rtol", type=_positive_float, default=d.rtol,
                   help=f"relative tolerance of an adaptive solver. Default: {d.rtol}.")
    g.add_argument("--atol", type=_positive_float, default=d.atol,
                   help=f"absolute tolerance of an adaptive solver. Default: {d.atol}.")
    g.add_argument("--gradient", choices=("adjoint", "backprop"), default=d.gradient,
                   help="'adjoint' solves the adjoint ODE backwards (constant memory, the "
                        "report's section 4.1.2); 'backprop' differentiates through the "
                        f"solver's steps. Default: {d.gradient}.")
    g.add_argument("--step-size", type=_positive_float, metavar="H",
                   help="fixed step for fixed-step methods (e.g. --method rk4 --step-size 0.25).")
    g.add_argument("--hidden-channels", type=_positive_int, default=d.hidden_channels,
                   metavar="N",
                   help=f"channels inside the dynamics (the R branch has 128). Default: "
                        f"{d.hidden_channels}.")


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
    for name in (*MODELS, "all"):
        parser = subparsers.add_parser(name, help=_DESCRIPTIONS[name],
                                       description=_DESCRIPTIONS[name])
        _add_common_options(parser)
        if name in ("odenet", "all"):
            _add_ode_options(parser)
        parser.set_defaults(func=run_command, model=name)


# ---------------------------------------------------------------- running


def run_command(args: argparse.Namespace) -> int:
    """Run the model(s) named by ``args.model``; exit status 0 when every run finished.

    An interrupted run raises ``KeyboardInterrupt`` and a failed one a
    :class:`~reproduce.errors.ReproduceError`; both stop ``all`` at once and
    the command line turns them into exit statuses 130 and 2.
    """
    from reproduce._quiet import quiet_tensorflow

    quiet_tensorflow()
    args.loaded_data = {}  # shared by the models of ``all``: read the data once
    models = MODELS if args.model == "all" else (args.model,)
    for model in models:
        run_model(model, args)
    return 0


def run_model(model: str, args: argparse.Namespace) -> dict:
    """Run one model's script with ``args`` resolved for that model (quick preset, run name)."""
    import importlib

    resolved = resolve_options(model, args)
    module = importlib.import_module(f"reproduce.{model}")
    return module.run(resolved)


def resolve_options(model: str, args: argparse.Namespace) -> argparse.Namespace:
    """Copy ``args`` for ``model``: fill epochs and limits from the defaults or the quick preset.

    Adds ``model``, ``shrunk`` (a list of human-readable changes the quick
    preset made, empty otherwise) and keeps explicit options untouched.
    """
    resolved = argparse.Namespace(**vars(args))
    resolved.model = model
    resolved.shrunk = []
    if args.quick:
        preset = QUICK[model]
        if args.epochs is None:
            resolved.epochs = preset.epochs
            resolved.shrunk.append(f"epochs {DEFAULT_EPOCHS} -> {preset.epochs}")
        if args.limit_train is None and preset.limit_train is not None:
            resolved.limit_train = preset.limit_train
            resolved.shrunk.append(
                f"training images -> the first {preset.limit_train} of the training split "
                f"(of {R_N_TRAIN} on the report's data)")
        if args.limit_test is None and preset.limit_test is not None:
            resolved.limit_test = preset.limit_test
            resolved.shrunk.append(
                f"test images -> the first {preset.limit_test} of the test split "
                f"(of {R_N_RECORDS - R_N_TRAIN})")
    if resolved.epochs is None:
        resolved.epochs = DEFAULT_EPOCHS
    return resolved


def load_data(args: argparse.Namespace):
    """``train = fromJSON("train.json")``: resolve the data source and say which one is used.

    Returns ``(DataFrame, DataSource)``. Under ``all`` the data are read once
    and shared by the three models.
    """
    from reproduce import data

    cache = getattr(args, "loaded_data", None)
    if cache is None:
        cache = {}
    if "frame" not in cache:
        cache["frame"], cache["source"] = data.resolve_data(args.data)
    df, source = cache["frame"], cache["source"]
    print(f"data: {source.description}")
    return df, source


def default_run_name(args: argparse.Namespace, source) -> str:
    """``{model}-{preprocessing}-{real|standin}-{quick|e<epochs>}`` (+ limits outside quick)."""
    kind = "real" if source.kind == "real" else "standin"
    length = "quick" if args.quick else f"e{args.epochs}"
    name = f"{args.model}-{args.preprocessing}-{kind}-{length}"
    if not args.quick and (args.limit_train or args.limit_test):
        name += f"-n{args.limit_train or 'all'}x{args.limit_test or 'all'}"
    return name


def run_name(args: argparse.Namespace, source) -> str:
    """The run folder's name: ``--run-name`` (suffixed by the model under ``all``) or the default."""
    if args.run_name:
        return f"{args.run_name}-{args.model}" if getattr(args, "command", None) == "all" else args.run_name
    return default_run_name(args, source)


def command_argv(args: argparse.Namespace) -> list[str] | None:
    """The arguments after ``python -m reproduce``, when the parser recorded them.

    ``None`` lets the run folder rebuild the command from ``sys.argv``.
    """
    argv = getattr(args, "argv", None)
    return None if argv is None else [str(a) for a in argv]


def fit_and_record(args: argparse.Namespace, *, model_name: str, build_model, data, source,
                   evaluate_extra=None, extra_metadata: dict | None = None) -> dict:
    """Train ``build_model()`` on ``data`` through a :class:`reproduce.engine.Run`.

    Prints what ``--quick`` shrank, then the model summary and Keras' progress
    bar; ``evaluate_extra(model, x_test, y_test)``, when given, returns further
    results for ``metrics.json``. Returns the metrics written to ``metrics.json``.
    """
    import pathlib

    from reproduce import engine
    from reproduce.engine.spec import check_arrays

    x_train, y_train, x_test, y_test = data
    if args.shrunk:
        print(f"--quick shrank {model_name}: " + "; ".join(args.shrunk))
    print(f"{model_name}: {len(x_train)} training and {len(x_test)} test images, "
          f"{args.epochs} epochs, batch {args.batch_size}, seed {args.seed}, "
          f"preprocessing {args.preprocessing}, sample.kind {args.sample_kind}")

    settings = {"sample_kind": args.sample_kind, "limit_train": args.limit_train,
                "limit_test": args.limit_test, **(extra_metadata or {})}
    metadata = {
        "model": model_name,
        "preprocessing": args.preprocessing,
        "quick": bool(args.quick),
        "data": source.to_dict(),
        "quick_shrank": list(args.shrunk),
        **settings,
        "config": settings,  # must match to resume
    }
    argv = command_argv(args)
    if argv is not None:
        metadata["argv"] = argv
    run_dir = pathlib.Path(args.out) / run_name(args, source)
    if getattr(args, "command", None) == "all" and not args.force:
        finished = engine.read_metrics(run_dir)
        if finished is not None and finished.get("status") == "finished":
            print(f"{model_name}: {run_dir} already holds a finished run; skipping it "
                  "(--force retrains).")
            return finished

    spec = engine.RunSpec(
        run_dir, args.epochs, args.batch_size, args.seed, metadata=metadata, resume=args.resume,
        force=args.force, deterministic=args.deterministic, verbose=args.verbose, eager=args.eager)
    check_arrays(*data)  # before the run folder is touched, as run_training does
    with engine.Run(spec) as run:
        engine.seed_everything(spec.seed)
        model = build_model()
        if not args.verbose:
            model.summary()  # the run prints it when verbose
        run.fit(model, x_train, y_train, test_data=(x_test, y_test))
        run.evaluate(model, x_test, y_test)
        if evaluate_extra is not None:
            run.record(evaluate_extra(model, x_test, y_test) or {})
    metrics = run.metrics
    _print_score(model_name, metrics, run_dir)
    return metrics


def _print_score(model_name: str, metrics: dict, run_dir) -> None:
    def fmt(key):
        value = metrics.get(key)
        return "n/a" if value is None else f"{value:.4f}"

    print(f"{model_name}: test loss {fmt('test_loss')}, test accuracy {fmt('test_accuracy')}"
          + (f", R-style accuracy {fmt('r_style_test_accuracy')}"
             if metrics.get("r_style_test_accuracy") is not None else "")
          + f" ({metrics.get('status')}, {metrics.get('epochs')} epochs) -> {run_dir}")
