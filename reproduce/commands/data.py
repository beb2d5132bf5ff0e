"""Commands ``data`` (which data a run uses, summarised) and ``make-data`` (writes the stand-in)."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from reproduce.errors import ReproduceError


def register(subparsers) -> None:
    """Add the ``data`` and ``make-data`` sub-commands."""
    data = subparsers.add_parser(
        "data",
        help="show which data a run would use, and summarise it",
        description=(
            "Resolve the data as a run does (--data, then $ICEBERG_DATA, then data/train.json, "
            "else the generated stand-in), check every record, and print the source and a summary."
        ),
    )
    data.add_argument("--data", metavar="PATH", help="Kaggle's train.json or train.json.7z")
    data.set_defaults(func=run_data)
    make = subparsers.add_parser(
        "make-data",
        help="write the generated stand-in as a train.json",
        description="Write the stand-in data as a train.json in Kaggle's schema, with its sha256.",
    )
    make.add_argument(
        "out", metavar="OUT", help="directory (writes OUT/train.json) or a .json file"
    )
    make.add_argument("--n", type=positive_int, default=1604, help="records (default: 1604)")
    make.add_argument("--seed", type=int, default=0, help="generator seed (default: 0, the runs')")
    make.add_argument("--force", action="store_true", help="overwrite an existing file")
    make.set_defaults(func=run_make_data)


def run_data(args: argparse.Namespace) -> int:
    from reproduce.data import resolve_data

    frame, source = resolve_data(args.data)
    print(f"data: {source.description}")
    print(format_summary(summarise(frame)))
    return 0


def run_make_data(args: argparse.Namespace) -> int:
    from reproduce.atomic import atomic_write_bytes
    from reproduce.data import stand_in_json_bytes

    target = Path(args.out)
    if target.suffix.lower() != ".json" or target.is_dir():
        target = target / "train.json"
    if target.exists() and not args.force:  # it may be Kaggle's real data
        raise ReproduceError(f"{target} already exists; pass --force to overwrite it")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        data = stand_in_json_bytes(args.n, args.seed)
        atomic_write_bytes(target, data)
    except OSError as err:
        raise ReproduceError(f"cannot write {target}: {err.strerror or err}") from err
    print(f"wrote {target} ({args.n} stand-in records, seed {args.seed}, {len(data)} bytes)")
    print(f"sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def summarise(frame: pd.DataFrame) -> dict:
    """Class counts, incidence angles (NaN-free) and band levels over all pixels (dB), JSON-ready."""
    labels = frame["is_iceberg"].to_numpy()
    angles = frame["inc_angle"].to_numpy(dtype=np.float64)
    known = angles[~np.isnan(angles)]

    def stats(values, names):
        return {name: float(getattr(values, name)()) if values.size else None for name in names}

    summary = {
        "n_records": len(frame),
        "n_ships": int(np.sum(labels == 0)),
        "n_icebergs": int(np.sum(labels == 1)),
        "iceberg_share": float(np.mean(labels == 1)) if len(frame) else None,
        "inc_angle": {**stats(known, ("min", "max", "mean")), "n_na": len(frame) - known.size},
    }
    for band in ("band_1", "band_2"):
        values = np.stack(frame[band].to_numpy()) if len(frame) else np.empty(0)
        summary[band] = stats(values, ("mean", "std", "min", "max"))
    return summary


def format_summary(summary: dict) -> str:
    def number(value, digits=2):
        return "n/a" if value is None else f"{value:.{digits}f}"

    angle, share = summary["inc_angle"], summary["iceberg_share"]
    lines = [
        f"records      {summary['n_records']}",
        f"classes      {summary['n_ships']} ships, {summary['n_icebergs']} icebergs"
        f" ({'n/a' if share is None else f'{100 * share:.1f}%'} icebergs)",
        f"inc_angle    {number(angle['min'])} .. {number(angle['max'])} degrees,"
        f' mean {number(angle["mean"])}, {angle["n_na"]} "na"',
    ]
    for band, polarisation in (("band_1", "HH"), ("band_2", "HV")):
        s = summary[band]
        lines.append(
            f"{band} ({polarisation})  mean {number(s['mean'])} dB, std {number(s['std'])},"
            f" min {number(s['min'])}, max {number(s['max'])}"
        )
    return "\n".join(lines)
