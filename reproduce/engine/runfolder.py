"""The run-folder format: one module owns it, and the engine, ``compare`` and ``figures`` use it.

A run folder (one per training run, under ``--out``) holds::

    metrics.json   status, configuration, results, provenance
    history.csv    one row per completed epoch: epoch, loss, accuracy, ..., test_loss, test_accuracy
    curves.png     loss and accuracy per epoch
    log.txt        what the run reported, one timestamped line each
    model.keras    the trained model (when finished; not committed)
    checkpoint/    state.json + epoch-NNNN.weights.h5 (while unfinished)

``status`` in ``metrics.json`` is one of :data:`STATUSES`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
from pathlib import Path

from reproduce.atomic import atomic_write_json, atomic_write_text
from reproduce.errors import ReproduceError

__all__ = [
    "CHECKPOINT_DIR",
    "CURVES_FILE",
    "FAILED",
    "FINISHED",
    "HISTORY_FILE",
    "INTERRUPTED",
    "LOG_FILE",
    "METRICS_FILE",
    "MODEL_FILE",
    "RUNNING",
    "STATE_FILE",
    "STATUSES",
    "history_csv",
    "read_history",
    "read_metrics",
    "remove_run_files",
    "remove_stale_temporaries",
    "run_folders",
    "write_history",
    "write_metrics",
]

METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
CURVES_FILE = "curves.png"
LOG_FILE = "log.txt"
MODEL_FILE = "model.keras"
CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "state.json"  # inside CHECKPOINT_DIR

RUNNING, FINISHED, INTERRUPTED, FAILED = "running", "finished", "interrupted", "failed"
STATUSES = (RUNNING, FINISHED, INTERRUPTED, FAILED)


def read_metrics(run_dir: str | os.PathLike) -> dict | None:
    """The ``metrics.json`` of a run folder, or ``None`` if it has none.

    Raises:
        ReproduceError: the file exists but is not a JSON object.
    """
    path = Path(run_dir) / METRICS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        metrics = json.loads(text)
    except json.JSONDecodeError as err:
        raise ReproduceError(
            f"{path} is not valid JSON ({err}); this folder does not hold a run written by this "
            "program. Add --force to replace it, or choose another output folder."
        ) from None
    if not isinstance(metrics, dict):
        raise ReproduceError(f"{path} does not hold a JSON object; add --force to replace it.")
    return metrics


def read_history(run_dir: str | os.PathLike):
    """``history.csv`` of a run folder as a pandas DataFrame, or ``None`` if absent or unreadable."""
    import pandas as pd

    path = Path(run_dir) / HISTORY_FILE
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path)
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return None


def run_folders(runs_dir: str | os.PathLike) -> list[Path]:
    """The run folders directly under ``runs_dir`` (those holding a ``metrics.json``), sorted by name."""
    return sorted(p.parent for p in Path(runs_dir).glob(f"*/{METRICS_FILE}"))


def write_metrics(run_dir: str | os.PathLike, metrics: dict) -> None:
    """Replace the run folder's ``metrics.json`` (atomically) with ``metrics``."""
    atomic_write_json(Path(run_dir) / METRICS_FILE, metrics)


def history_csv(rows: list[dict[str, float]]) -> str:
    """CSV text: ``epoch`` first, then ``loss``, then the other keys in Keras' order."""
    columns: list[str] = ["epoch"]
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    if "loss" in columns:
        columns.remove("loss")
        columns.insert(1, "loss")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        # repr(float) is the shortest text that reads back as the same float.
        writer.writerow(["" if row.get(c) is None else repr(row[c]) for c in columns])
    return out.getvalue()


def write_history(run_dir: str | os.PathLike, rows: list[dict[str, float]]) -> None:
    """Replace the run folder's ``history.csv`` (atomically) with ``rows``."""
    atomic_write_text(Path(run_dir) / HISTORY_FILE, history_csv(rows))


def remove_run_files(run_dir: str | os.PathLike) -> None:
    """Remove what a previous run wrote (and nothing else) before starting over."""
    run_dir = Path(run_dir)
    for name in (METRICS_FILE, HISTORY_FILE, CURVES_FILE, LOG_FILE, MODEL_FILE):
        with contextlib.suppress(FileNotFoundError):
            (run_dir / name).unlink()
    shutil.rmtree(run_dir / CHECKPOINT_DIR, ignore_errors=True)


def remove_stale_temporaries(run_dir: str | os.PathLike) -> None:
    """Delete temporary files a killed writer left in the folder and its checkpoint.

    See :mod:`reproduce.atomic` for how they are named.
    """
    for directory in (Path(run_dir), Path(run_dir) / CHECKPOINT_DIR):
        if directory.is_dir():
            for leftover in directory.glob(".*.tmp-*"):
                with contextlib.suppress(OSError):
                    leftover.unlink()
