"""Commands ``data`` (which data a run uses, and its summary) and ``make-data``.

``python -m reproduce data [--data PATH]`` resolves the data as every run
does (``--data``, ``$ICEBERG_DATA``, ``data/train.json``, else the stand-in),
prints the source on one line and a summary: class counts, incidence angles,
band levels.

``python -m reproduce make-data OUT [--n N] [--seed S] [--force]`` writes the
generated stand-in as a real ``train.json``, so that the loader reads it as
it reads Kaggle's file. OUT is a directory (``OUT/train.json`` is written;
the directory is created) unless it ends in ``.json``. An existing file is
not overwritten without ``--force``: it may be Kaggle's real data.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

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
    data.add_argument(
        "--data", metavar="PATH", default=None, help="Kaggle's train.json or train.json.7z"
    )
    data.set_defaults(func=run_data)

    make = subparsers.add_parser(
        "make-data",
        help="write the generated stand-in as a train.json",
        description=(
            "Write the stand-in data (reproduce.data.synthetic_train) as a train.json in Kaggle's "
            "schema, and print its path and sha256."
        ),
    )
    make.add_argument(
        "out",
        metavar="OUT",
        help="directory (writes OUT/train.json) or a file name ending in .json",
    )
    make.add_argument(
        "--n",
        type=positive_int,
        default=1604,
        help="number of records (default: 1604, as Kaggle's)",
    )
    make.add_argument(
        "--seed", type=int, default=0, help="generator seed (default: 0, the stand-in runs use)"
    )
    make.add_argument("--force", action="store_true", help="overwrite an existing file")
    make.set_defaults(func=run_make_data)


def run_data(args: argparse.Namespace) -> int:
    """Print the data source and its summary. DataError propagates (exit 2)."""
    from reproduce.data import format_summary, resolve_data, summarise

    frame, source = resolve_data(args.data)
    print(f"data: {source.description}")
    print(format_summary(summarise(frame)))
    return 0


def run_make_data(args: argparse.Namespace) -> int:
    """Write the stand-in to disk and print where, with its sha256."""
    from reproduce.atomic import atomic_write_bytes
    from reproduce.data import stand_in_json_bytes

    target = output_path(args.out)
    if target.exists() and not args.force:
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


def output_path(out: str) -> Path:
    """Where ``make-data OUT`` writes: OUT itself if it ends in .json, else OUT/train.json."""
    path = Path(out)
    if path.suffix.lower() == ".json" and not path.is_dir():
        return path
    return path / "train.json"


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
