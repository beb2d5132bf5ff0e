"""``python -m reproduce compare``: our runs' numbers beside the report's (see :mod:`reproduce.comparison`)."""

from __future__ import annotations

from reproduce.runs import MODEL_ORDER


def _command(args) -> int:
    from reproduce.comparison import run_compare

    out = run_compare(
        runs_dir=args.runs,
        out=args.out,
        r_history=args.r_history,
        r_model=args.r_model,
        readme=args.readme,
        data_path=args.data,
    )
    print(f"wrote {out}")
    if args.readme:
        print(f"updated the results block of {args.readme}")
    return 0


def register(subparsers) -> None:
    """Add the ``compare`` command."""
    parser = subparsers.add_parser(
        "compare",
        help="write results/COMPARISON.md: our runs' numbers beside the report's",
        description=(
            "Read every run folder under --runs and write a Markdown table of the report's figures "
            "beside ours, with what the differences mean. Every number comes from the runs' files."
        ),
    )
    parser.add_argument(
        "--runs", default="results", help="folder of run folders (default: results)"
    )
    parser.add_argument(
        "--out", default=None, help="Markdown file to write (default: RUNS/COMPARISON.md)"
    )
    parser.add_argument(
        "--r-history",
        default=None,
        metavar="FILE.csv",
        help='R keras history written by write.csv(as.data.frame(history), "FILE.csv") in R',
    )
    parser.add_argument(
        "--r-model",
        default="dense",
        choices=MODEL_ORDER,
        help="which model the R history belongs to (default: dense)",
    )
    parser.add_argument(
        "--readme",
        default=None,
        help="README whose block between <!-- results:start --> and <!-- results:end --> is replaced",
    )
    parser.add_argument(
        "--data",
        default=None,
        help="the runs' train.json, if not at the path recorded in them (for the test split's class balance)",
    )
    parser.set_defaults(func=_command)
