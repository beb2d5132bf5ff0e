"""``python -m reproduce functional``: the report's future work, a Neural CDE on Tecator's spectra."""

from __future__ import annotations

import argparse

from reproduce.errors import ReproduceError

_ABOUT = (
    "Tecator (fat from NIR spectra, shipped with sktime): a Neural CDE, a ridge regression and a "
    "GRU with 0/30/50/70% of each spectrum's points dropped; test RMSE over seeds, and a figure."
)


def _fractions(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not comma-separated numbers: {text!r}") from None
    if not all(0 <= v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"fractions must lie in [0, 1), got {text}")
    return values


def _models(text: str) -> tuple[str, ...]:
    from reproduce.functional import MODELS

    if bad := [m for m in text.split(",") if m not in MODELS]:
        raise argparse.ArgumentTypeError(f"unknown model {bad[0]!r}; choose from {MODELS}")
    return tuple(text.split(","))


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return int(text)


def register(subparsers) -> None:
    """Add the ``functional`` command."""
    p = subparsers.add_parser("functional", help=_ABOUT.split(":")[0], description=_ABOUT)
    p.add_argument(
        "--quick", action="store_true", help="fewer seeds and epochs (about 15 minutes on 2 cores)"
    )
    p.add_argument("--out", default="runs", help="parent of functional[-quick]/ (%(default)s)")
    p.add_argument("--seeds", type=_positive, metavar="N", help="seeds 0..N-1 (full: 5, quick: 2)")
    p.add_argument("--epochs", type=_positive, metavar="N", help="(full: 100, quick: 40)")
    p.add_argument("--models", type=_models, default="cde,ridge,gru", help="(%(default)s)")
    p.add_argument("--drops", type=_fractions, default="0,0.3,0.5,0.7", help="(%(default)s)")
    p.add_argument("--force", action="store_true", help="redo configurations already finished")
    p.set_defaults(func=_command)


def _command(args) -> int:
    from reproduce import functional, provenance

    functional.load_tecator()  # a missing sktime is told before TensorFlow loads
    try:
        summary = functional.run(
            args.out, quick=args.quick, seeds=args.seeds, epochs=args.epochs, models=args.models,
            drops=args.drops, force=args.force, command=provenance.command_line(args.argv),
        )  # fmt: skip
    except OSError as err:
        raise ReproduceError(f"cannot write under {args.out}: {err.strerror or err}") from err
    print(f"{'model':6} {'drop':>5} {'test RMSE (95% interval)':>28}")
    for r in summary["rows"]:
        interval = f"({r['low']:.2f}, {r['high']:.2f})" if r["low"] is not None else ""
        print(f"{r['model']:6} {r['drop']:5.0%} {r['mean']:10.2f} {interval:>17}")
    return 0
