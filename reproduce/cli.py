"""Command line: ``python -m reproduce <command> ...``; each command module has ``register(subparsers)``.
A :class:`reproduce.errors.ReproduceError` ends as one line on stderr, exit status 2."""

import argparse
import os
import sys

from reproduce.commands import compare, data, figures, functional, quick_preset, train
from reproduce.errors import ReproduceError

# In the order of ``--help``: dense|resnet|odenet|all, data|make-data, figures, compare,
# quick-preset, functional.
COMMANDS = (train, data, figures, compare, quick_preset, functional)


class _Parser(argparse.ArgumentParser):
    """Bad arguments end in one line (what is wrong and where ``--help`` is), exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m reproduce",
        description="Reproduce 'A Gentle Introduction to Neural Differential Equations': the "
        "report's dense network and residual CNN ported from R keras, their Neural ODE "
        "counterpart, the report's figures and a comparison of numbers. Reads Kaggle's iceberg "
        "train.json when you have it (--data, $ICEBERG_DATA or data/train.json); otherwise runs "
        "on a generated stand-in.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        # What metrics.json records: the arguments given here, not a host program's sys.argv.
        args.argv = list(argv) if argv is not None else sys.argv[1:]
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a reader gone (``| head``) shows here, not in the exit's flush
        return status
    except ReproduceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # Python's documented idiom: nothing more to say, nowhere to say it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
