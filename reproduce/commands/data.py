"""Commands ``data`` (which data a run uses, summarised) and ``make-data`` (writes the stand-in)."""

import argparse
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from reproduce.commands import SEED, checked
from reproduce.errors import ReproduceError


def register(subparsers) -> None:
    about = "show which data a run would use (checking every record), and summarise it"
    data = subparsers.add_parser("data", help=about, description=about)
    where = "Kaggle's train.json or .7z (default: $ICEBERG_DATA, data/train.json, the stand-in)"
    data.add_argument("--data", metavar="PATH", help=where)
    data.set_defaults(func=run_data)
    about = "write the generated stand-in as a train.json, and print its sha256"
    make = subparsers.add_parser("make-data", help=about, description=about)
    make.add_argument(
        "out", metavar="OUT", help="directory (writes OUT/train.json) or a .json file"
    )
    n = checked(int, lambda v: 0 < v <= 2500, "from 1 to 2500 (more pass the reader's cap)")
    make.add_argument("--n", type=n, default=1604, help="records, at most 2500 (default: 1604)")
    make.add_argument("--seed", type=SEED, default=0, help="generator seed (default: 0, the runs')")
    make.add_argument("--force", action="store_true", help="overwrite an existing file")
    make.set_defaults(func=run_make_data)


def run_data(args: argparse.Namespace) -> int:
    from reproduce.data import resolve_data

    frame, source = resolve_data(args.data)
    print(f"data: {source.description}")
    print(summarise(frame))
    return 0


def run_make_data(args: argparse.Namespace) -> int:
    from reproduce.atomic import atomic_write_bytes
    from reproduce.data import stand_in_json_bytes

    target = Path(args.out)
    try:
        if target.suffix.lower() != ".json" or target.is_dir():
            target = target / "train.json"
        if target.exists() and not args.force:  # it may be Kaggle's real data
            raise ReproduceError(f"{target} already exists; pass --force to overwrite it")
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data := stand_in_json_bytes(args.n, args.seed))
    except OSError as err:
        raise ReproduceError(f"cannot write {target}: {err.strerror or err}") from err
    print(f"wrote {target} ({args.n} stand-in records, seed {args.seed}, {len(data)} bytes)")
    print(f"sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


def summarise(frame: pd.DataFrame) -> str:
    """Class counts, incidence angles and band levels (dB, over all pixels), in a few lines."""
    icebergs, angles = int(frame["is_iceberg"].sum()), frame["inc_angle"].dropna()
    angle = f"{angles.min():.2f} .. {angles.max():.2f} degrees, mean {angles.mean():.2f}"
    lines = [
        f"records      {len(frame)}",
        f"classes      {len(frame) - icebergs} ships, {icebergs} icebergs"
        f" ({100 * icebergs / len(frame):.1f}% icebergs)",
        f'inc_angle    {angle if len(angles) else "n/a"}, {len(frame) - len(angles)} "na"',
    ]
    for band, polarisation in (("band_1", "HH"), ("band_2", "HV")):
        v = np.stack(frame[band].to_numpy())
        lines.append(
            f"{band} ({polarisation})  mean {v.mean():.2f} dB, std {v.std():.2f},"
            f" min {v.min():.2f}, max {v.max():.2f}"
        )
    return "\n".join(lines)
