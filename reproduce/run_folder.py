"""A run folder's files, as the engine writes them and ``compare`` and ``figures`` read them."""

import csv
import io
import json
import math
import shutil
from pathlib import Path

from reproduce.atomic import atomic_write_text
from reproduce.errors import ReproduceError

METRICS_FILE, HISTORY_FILE, CURVES_FILE = "metrics.json", "history.csv", "curves.png"
LOG_FILE, MODEL_FILE, SUMMARY_FILE = "log.txt", "model.keras", "summary.txt"
CHECKPOINT_DIR = "checkpoint"  # state.json + epoch-NNNN.weights.h5, while unfinished
RUNNING, FINISHED, INTERRUPTED, FAILED = "running", "finished", "interrupted", "failed"


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
    return value if value is None or isinstance(value, (bool, int, str)) else str(value)


def read_metrics(run_dir) -> dict | None:
    """The folder's ``metrics.json``, or ``None`` without one."""
    path = Path(run_dir) / METRICS_FILE
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except OSError as err:  # not a write failure: say what could not be read
        raise ReproduceError(f"cannot read {path}: {err.strerror}; make it readable.") from None
    except json.JSONDecodeError as err:
        raise ReproduceError(f"{path} is not valid JSON ({err}); this folder does not hold a run "
                             "written by this program. Add --force to replace it, or choose "
                             "another output folder.") from None  # fmt: skip
    if not isinstance(metrics, dict):
        raise ReproduceError(f"{path} does not hold a JSON object; add --force to replace it.")
    return metrics


def write_history(run_dir: Path, rows: list[dict]) -> None:
    """``history.csv``: ``epoch``, ``loss``, then the other columns in Keras' order."""
    columns = ["epoch", "loss"] + [key for row in rows for key in row]
    columns = list(dict.fromkeys(c for c in columns if any(c in row for row in rows)))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:  # repr(float): the shortest text that reads back as the same float
        writer.writerow(["" if row.get(c) is None else repr(row[c]) for c in columns])
    atomic_write_text(run_dir / HISTORY_FILE, out.getvalue())


def drop_checkpoint(run_dir: Path) -> None:
    shutil.rmtree(run_dir / CHECKPOINT_DIR, ignore_errors=True)


def clear(run_dir: Path) -> None:
    """Remove what a previous run wrote (and nothing else), to start over."""
    for name in (METRICS_FILE, HISTORY_FILE, CURVES_FILE, LOG_FILE, MODEL_FILE, SUMMARY_FILE):
        (run_dir / name).unlink(missing_ok=True)
    drop_checkpoint(run_dir)


def finished_run(config, data: dict) -> dict | None:
    """Under ``all`` or several seeds, without ``force``: the finished run on the same data there."""
    if not (config.in_all or config.skip_finished) or config.force:
        return None
    run_dir = config.run_dir(data["kind"])
    metrics = read_metrics(run_dir) or {}
    same_data = (metrics.get("data") or {}).get("sha256") == data["sha256"]
    if metrics.get("status") != FINISHED or not same_data:
        return None
    drop_checkpoint(run_dir)  # a kill left it
    print(
        f"{config.model}: {run_dir} already holds a finished run; skipping it (--force retrains)."
    )
    return metrics
