"""``python -m reproduce compare``: our runs' numbers beside the report's, as tables."""

from reproduce.commands import folder


def _command(args) -> int:
    from reproduce import provenance
    from reproduce.comparison import run_compare

    argv = ["compare", "--runs", args.runs, "--out", args.out]
    command = provenance.command_line(argv + (["--data", args.data] if args.data else []))
    paths = run_compare(args.runs, args.out, args.data, command=command)
    print("wrote " + ", ".join(map(str, paths)))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="tables of our runs' numbers beside the report's (comparison.md, comparison.csv)",
        description="Write comparison.md and comparison.csv into --out: per seed group of the "
        "runs under --runs the test accuracy per seed, its mean and 95% t-interval, the "
        "majority-class share, ...; per run its numbers; the report's figures.",
    )
    parser.add_argument("--runs", type=folder, default="runs", help="run folders (default: runs)")
    parser.add_argument("--out", type=folder, default="runs", help="output folder (default: runs)")
    parser.add_argument("--data", help="the runs' train.json when not at the recorded path")
    parser.set_defaults(func=_command)
