"""``python -m reproduce functional``: the report's future work, a Neural CDE on functional data."""

import argparse

from reproduce.errors import ReproduceError

DATASETS = ("tecator", "japanesevowels")  # reproduce.functional.DATASETS, without importing NumPy

_ABOUT = (
    "Functional data (shipped with sktime): a Neural CDE, a linear model and a GRU with 0/30/50/"
    "70% of each series' points dropped; test RMSE (Tecator's fat from NIR spectra: ridge) or "
    "accuracy (JapaneseVowels' 9 speakers: logistic regression) over seeds, and a figure."
)


def _fractions(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not comma-separated numbers: {text!r}") from None
    if not all(0 <= v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"fractions must lie in [0, 1), got {text}")
    return values


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return int(text)


def register(subparsers) -> None:
    """Add the ``functional`` command."""
    p = subparsers.add_parser("functional", help=_ABOUT.split(":")[0], description=_ABOUT)
    p.add_argument("--dataset", choices=DATASETS, default="tecator", help="(%(default)s)")
    p.add_argument("--quick", action="store_true",
                   help="fewer seeds and epochs (one core: Tecator about 4, JapaneseVowels about 2 minutes)")  # fmt: skip
    p.add_argument("--out", default="runs", help="parent of the run folder (%(default)s)")
    p.add_argument("--seeds", type=_positive, metavar="N", help="seeds 0..N-1 (full: 5, quick: 2)")
    p.add_argument("--epochs", type=_positive, metavar="N",
                   help="(full: 100; quick: tecator 40, japanesevowels 10)")  # fmt: skip
    p.add_argument("--models", type=lambda text: tuple(text.split(",")),
                   help="comma-separated (default: cde,ridge,gru; japanesevowels: cde,logistic,gru)")  # fmt: skip
    p.add_argument("--drops", type=_fractions, default="0,0.3,0.5,0.7", help="(%(default)s)")
    p.add_argument("--force", action="store_true", help="redo configurations already finished")
    p.set_defaults(func=_command)


def _command(args) -> int:
    from reproduce import functional, provenance

    spec = functional.DATASETS[args.dataset]
    if bad := [m for m in args.models or () if m not in spec["models"]]:
        raise ReproduceError(
            f"unknown model {bad[0]!r} for {args.dataset}; choose from {spec['models']}"
        )
    functional.load(args.dataset)  # a missing sktime is told before TensorFlow loads
    try:
        summary = functional.run(
            args.out, dataset=args.dataset, quick=args.quick, seeds=args.seeds, epochs=args.epochs,
            models=args.models, drops=args.drops, force=args.force,
            command=provenance.command_line(args.argv),
        )  # fmt: skip
    except OSError as err:
        raise ReproduceError(f"cannot write under {args.out}: {err.strerror or err}") from err
    print(f"{'model':8} {'drop':>5} test {summary['metric']}: mean ({summary['interval']})")
    for r in summary["rows"]:
        interval = f"({r['low']:.3g}, {r['high']:.3g})" if r["low"] is not None else ""
        print(f"{r['model']:8} {r['drop']:5.0%} {r['mean']:10.3g} {interval}")
    return 0
