"""``python -m reproduce figures``: the report's figures 3-11, regenerated."""

from __future__ import annotations

from reproduce import provenance


def _command(args) -> int:
    from reproduce.figures import make_figures

    only = tuple(s.strip() for s in args.only.split(",")) if args.only else None
    argv = [
        "figures",
        "--runs",
        args.runs,
        "--out",
        args.out,
    ]  # as parsed: sys.argv may be pytest's
    argv += ["--data", args.data] if args.data else []
    argv += ["--only", args.only] if args.only else []
    manifest = make_figures(args.data, args.runs, args.out, provenance.command_line(argv), only)
    print(f"wrote {manifest}")
    return 0


def register(subparsers) -> None:
    """Add the ``figures`` command."""
    parser = subparsers.add_parser(
        "figures",
        help="regenerate the report's figures 3-11 (PNGs) and its Euler table",
        description="Regenerate the report's figures: the image grid (3), training curves from "
        "the runs (4, 7), ResNet vs Neural ODE trajectories (8), solution curves (9), phase "
        "portrait (10), Euler's method and its table (11); PNGs and manifest.json into --out.",
    )
    parser.add_argument(
        "--data", help="train.json for Figure 3 (default: $ICEBERG_DATA, data/train.json, else "
        "the stand-in)",
    )  # fmt: skip
    parser.add_argument("--runs", default="runs", help="run folders for Figures 4 and 7")
    parser.add_argument("--out", default="runs/figures", help="output folder")
    parser.add_argument(
        "--only", help="comma-separated subset: fig03,fig04_07,fig08,fig09,fig10,fig11"
    )
    parser.set_defaults(func=_command)
