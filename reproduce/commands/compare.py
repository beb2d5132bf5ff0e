"""``python -m reproduce compare``: our runs' numbers beside the report's, as tables."""

from __future__ import annotations

from reproduce import provenance
from reproduce.runs import MODELS


def _command(args) -> int:
    from reproduce.comparison import run_compare

    argv = ["compare", "--runs", args.runs, "--out", args.out]
    argv += ["--r-history", args.r_history, "--r-model", args.r_model] if args.r_history else []
    argv += ["--data", args.data] if args.data else []
    paths = run_compare(
        args.runs, args.out, args.r_history, args.r_model, args.data,
        command=provenance.command_line(argv),
    )  # fmt: skip
    print("wrote " + ", ".join(map(str, paths)))
    return 0


def register(subparsers) -> None:
    """Add the ``compare`` command."""
    parser = subparsers.add_parser(
        "compare",
        help="tables of our runs' numbers beside the report's (comparison.md, comparison.csv)",
        description="Read every run folder under --runs; write comparison.md and comparison.csv "
        "into --out: per seed group the mean and 95%% t-interval of the test accuracy, per run "
        "its numbers, and the report's figures.",
    )
    parser.add_argument("--runs", default="runs", help="folder of run folders (default: runs)")
    parser.add_argument("--out", default="runs", help="output folder (default: runs)")
    parser.add_argument(
        "--r-history",
        metavar="FILE.csv",
        help='R keras history written by write.csv(as.data.frame(history), "FILE.csv") in R',
    )
    parser.add_argument(
        "--r-model", default="dense", choices=MODELS, help="the model of the R history"
    )
    parser.add_argument(
        "--data", help="the runs' train.json when not at the recorded path (for the majority share)"
    )
    parser.set_defaults(func=_command)
