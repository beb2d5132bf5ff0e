"""``python -m reproduce figures``: the report's figures 3-11, regenerated (see :mod:`reproduce.figures`)."""

from __future__ import annotations

from reproduce import provenance


def _command(args) -> int:
    from reproduce.figures import make_figures

    only = tuple(s.strip() for s in args.only.split(",")) if args.only else None
    argv = ["figures"]  # the command as parsed, for the manifest (sys.argv may be a test runner's)
    for option, value in (
        ("--data", args.data),
        ("--runs", args.runs),
        ("--out", args.out),
        ("--only", args.only),
    ):
        if value is not None:
            argv += [option, str(value)]
    manifest = make_figures(
        args.data, args.runs, args.out, command=provenance.command_line(argv), only=only
    )
    print(f"wrote {manifest}")
    return 0


def register(subparsers) -> None:
    """Add the ``figures`` command."""
    parser = subparsers.add_parser(
        "figures",
        help="regenerate the report's figures 3-11 (PNGs) and its Euler table",
        description=(
            "Regenerate the report's figures: the image grid (3), training curves from the runs (4, 7), "
            "ResNet vs Neural ODE trajectories (8), solution curves (9), phase portrait (10) and "
            "Euler's method with its table (11). Writes PNGs and manifest.json into --out."
        ),
    )
    parser.add_argument(
        "--data",
        default=None,
        help="train.json for Figure 3 (default: $ICEBERG_DATA, data/train.json, else the stand-in)",
    )
    parser.add_argument(
        "--runs",
        default="results",
        help="folder of run folders for Figures 4 and 7 (default: results)",
    )
    parser.add_argument("--out", default=None, help="output folder (default: RUNS/figures)")
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated subset: fig03,fig04_07,fig08,fig09,fig10,fig11",
    )
    parser.set_defaults(func=_command)
