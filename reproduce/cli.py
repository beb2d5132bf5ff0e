"""Command line: ``python -m reproduce <command> ...`` (also the ``reproduce`` script).

Each command lives in its own module, which exposes ``register(subparsers)``:
it adds its sub-parser and sets ``func`` to a callable taking the parsed
arguments and returning an exit status. Modules import TensorFlow lazily, so
``--help`` answers at once.

Errors the user can fix (:class:`reproduce.errors.ReproduceError`) are printed
as one line on stderr with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from reproduce.errors import ReproduceError

# The order is the order of ``--help``.
COMMAND_MODULES = (
    "reproduce.train",  # dense | resnet | odenet | all
    "reproduce.commands.data",  # data (summary), make-data
    "reproduce.commands.figures",  # figures
    "reproduce.commands.compare",  # compare
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m reproduce",
        description=(
            "Reproduce 'A Gentle Introduction to Neural Differential Equations': "
            "the report's dense network and residual CNN ported from R keras, their "
            "Neural ODE counterpart, the report's figures and a comparison of numbers. "
            "Reads Kaggle's iceberg train.json when you have it (--data, $ICEBERG_DATA "
            "or data/train.json); otherwise runs on a generated stand-in."
        ),
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # What metrics.json records as the command: the arguments given here, not
    # the host program's sys.argv when main() is called from Python.
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    try:
        return int(args.func(args) or 0)
    except ReproduceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
