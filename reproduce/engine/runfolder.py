"""The run folder's files and statuses, read by ``compare`` and ``figures`` as well as written here."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import shutil
from pathlib import Path

from reproduce.atomic import atomic_write_text
from reproduce.errors import ReproduceError

METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
CURVES_FILE = "curves.png"
LOG_FILE = "log.txt"
MODEL_FILE = "model.keras"
SUMMARY_FILE = "summary.txt"
CHECKPOINT_DIR = "checkpoint"  # state.json + epoch-NNNN.weights.h5, while unfinished

RUNNING, FINISHED, INTERRUPTED, FAILED = "running", "finished", "interrupted", "failed"
STATUSES = (RUNNING, FINISHED, INTERRUPTED, FAILED)


def json_safe(value):
    """Plain JSON values: NumPy scalars and arrays converted, NaN and infinities -> None."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return json_safe(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json_safe(dataclasses.asdict(value))
    return str(value)


def read_metrics(run_dir: str | os.PathLike) -> dict | None:
    """The folder's ``metrics.json``, or ``None`` without one."""
    path = Path(run_dir) / METRICS_FILE
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as err:
        raise ReproduceError(
            f"{path} is not valid JSON ({err}); this folder does not hold a run written by this "
            "program. Add --force to replace it, or choose another output folder."
        ) from None
    if not isinstance(metrics, dict):
        raise ReproduceError(f"{path} does not hold a JSON object; add --force to replace it.")
    return metrics


def read_history(run_dir: str | os.PathLike):
    """``history.csv`` as a pandas DataFrame, or ``None`` if absent or unreadable."""
    import pandas as pd

    path = Path(run_dir) / HISTORY_FILE
    try:
        return pd.read_csv(path) if path.is_file() else None
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return None


def run_folders(runs_dir: str | os.PathLike) -> list[Path]:
    """The run folders directly under ``runs_dir`` (holding a ``metrics.json``), sorted."""
    return sorted(p.parent for p in Path(runs_dir).glob(f"*/{METRICS_FILE}"))


def write_history(run_dir: Path, rows: list[dict]) -> None:
    """``history.csv``: ``epoch``, ``loss``, then the other columns in Keras' order."""
    columns = ["epoch", "loss"]
    columns += [key for row in rows for key in row if key not in columns]
    columns = list(dict.fromkeys(c for c in columns if any(c in row for row in rows)))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:  # repr(float): the shortest text that reads back as the same float
        writer.writerow(["" if row.get(c) is None else repr(row[c]) for c in columns])
    atomic_write_text(run_dir / HISTORY_FILE, out.getvalue())


def clear(run_dir: Path) -> None:
    """Remove what a previous run wrote (and nothing else), to start over."""
    for name in (METRICS_FILE, HISTORY_FILE, CURVES_FILE, LOG_FILE, MODEL_FILE, SUMMARY_FILE):
        with contextlib.suppress(FileNotFoundError):
            (run_dir / name).unlink()
    shutil.rmtree(run_dir / CHECKPOINT_DIR, ignore_errors=True)


def remove_temporaries(run_dir: Path) -> None:
    """Delete the temporary files a killed writer left (named by ``reproduce.atomic``)."""
    for leftover in [*run_dir.glob(".*.tmp-*"), *(run_dir / CHECKPOINT_DIR).glob(".*.tmp-*")]:
        with contextlib.suppress(OSError):
            leftover.unlink()
