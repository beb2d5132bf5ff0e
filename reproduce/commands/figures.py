"""``python -m reproduce figures``: the report's figures 3-11, regenerated."""

from reproduce.commands import folder


def _command(args) -> int:
    from reproduce import provenance
    from reproduce.figures import make_figures

    # The command as parsed, for the manifest: sys.argv may be a test runner's.
    argv = ["figures", "--runs", args.runs, "--out", args.out]
    argv += ["--data", args.data] if args.data else []
    argv += ["--only", args.only] if args.only else []
    only = tuple(s.strip() for s in args.only.split(",")) if args.only else None
    manifest = make_figures(args.data, args.runs, args.out, provenance.command_line(argv), only)
    print(f"wrote {manifest}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "figures",
        help="regenerate the report's figures 3-11 (PNGs) and its Euler table",
        description="Regenerate the report's figures (3: images, 4 and 7: the runs' curves, "
        "8: ResNet vs Neural ODE, 9-11: worked ODEs, Euler table) and manifest.json into --out.",
    )
    parser.add_argument("--data", help="train.json for Figure 3 (default: as the training does)")
    parser.add_argument(
        "--runs", type=folder, default="runs", help="run folders for Figures 4 and 7 (%(default)s)"
    )
    parser.add_argument(
        "--out", type=folder, default="runs/figures", help="output folder (default: runs/figures)"
    )
    parser.add_argument("--only", help="comma-separated: fig03,fig04_07,fig08,fig09,fig10,fig11")
    parser.set_defaults(func=_command)
