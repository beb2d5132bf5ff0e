"""The run folders under ``--runs``, as ``compare`` and ``figures`` read them.

Each folder is read through :mod:`reproduce.engine.runfolder`, which owns the
file names and statuses. Where several runs exist for one (model,
preprocessing), :func:`representative_runs` picks one: a finished run before
an unfinished one, then the most epochs, then the latest date.

This module sits below both :mod:`reproduce.comparison` and
:mod:`reproduce.figures`, which both need the runs, so neither imports the other
for them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from reproduce import settings
from reproduce.engine import runfolder
from reproduce.errors import ReproduceError

MODEL_ORDER = settings.MODELS
MODEL_TITLES = {
    "dense": "dense network",
    "resnet": "residual CNN",
    "odenet": "ODE-Net",
}


@dataclass
class Run:
    """One training run folder: its metrics and its history.

    Attributes:
        name: the folder's name.
        folder: the folder.
        metrics: the parsed metrics file.
        history: the history as a DataFrame (``None`` if absent or unreadable).
    """

    name: str
    folder: Path
    metrics: dict
    history: object = None  # pandas.DataFrame | None

    def get(self, key: str, default=None):
        """``metrics[key]``, or ``default`` when missing or null."""
        value = self.metrics.get(key)
        return default if value is None else value

    @property
    def model(self) -> str:
        return str(self.get("model", "?"))

    @property
    def preprocessing(self) -> str:
        return str(self.get("preprocessing", "?"))

    @property
    def data_sha256(self) -> str:
        return str((self.get("data", {}) or {}).get("sha256") or "")

    @property
    def finished(self) -> bool:
        return self.get("status") == runfolder.FINISHED


@dataclass
class RunScan:
    """What :func:`load_runs` found: the runs, and the folders it had to skip (with why)."""

    runs: list[Run] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def load_runs(runs_dir: str | os.PathLike) -> RunScan:
    """Read every run folder directly under ``runs_dir`` (metrics and history).

    Folders without a metrics file (e.g. ``figures/``) are ignored; folders
    whose metrics file is not a JSON object are reported in ``skipped``.
    Runs are sorted by model (dense, resnet, odenet), preprocessing, name.

    Raises:
        ReproduceError: ``runs_dir`` does not exist.
    """
    root = Path(runs_dir)
    if not root.is_dir():
        raise ReproduceError(
            f"runs folder {root} does not exist (train a model first, or pass --runs)"
        )
    scan = RunScan()
    for folder in runfolder.run_folders(root):
        try:
            metrics = runfolder.read_metrics(folder)
        except (OSError, ValueError, ReproduceError) as err:
            # read_metrics words its error for the training commands (it suggests
            # --force); a comparison only says why the folder was skipped: the
            # JSON parser's message, kept as the exception's context.
            reason = err.__context__ if isinstance(err, ReproduceError) else err
            scan.skipped.append(
                (
                    folder.name,
                    f"{runfolder.METRICS_FILE} unreadable: {reason or 'not a JSON object'}",
                )
            )
            continue
        if metrics is None:  # removed between listing and reading
            continue
        scan.runs.append(Run(folder.name, folder, metrics, runfolder.read_history(folder)))

    def order(run: Run):
        model_rank = MODEL_ORDER.index(run.model) if run.model in MODEL_ORDER else len(MODEL_ORDER)
        return (model_rank, run.preprocessing, run.name)

    scan.runs.sort(key=order)
    return scan


def _run_rank(run: Run):
    """Sort key: finished first, then most epochs, then latest date (larger is better)."""
    return (run.finished, int(run.get("epochs", 0) or 0), str(run.get("date", "")), run.name)


def primary_data_sha(runs: list[Run]) -> str | None:
    """The data (sha256) most runs used; ties go to the data of the best-ranked run."""
    if not runs:
        return None
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.data_sha256] = counts.get(run.data_sha256, 0) + 1
    best = max(runs, key=lambda r: (counts[r.data_sha256], _run_rank(r)))
    return best.data_sha256


def representative_runs(
    runs: list[Run], data_sha256: str | None = None
) -> dict[tuple[str, str], Run]:
    """One run per (model, preprocessing): finished first, then most epochs, then latest.

    Args:
        runs: candidate runs.
        data_sha256: keep only runs on this data (``None``: all runs).
    """
    chosen: dict[tuple[str, str], Run] = {}
    for run in runs:
        if data_sha256 is not None and run.data_sha256 != data_sha256:
            continue
        key = (run.model, run.preprocessing)
        if key not in chosen or _run_rank(run) > _run_rank(chosen[key]):
            chosen[key] = run
    return chosen


def curve_runs(runs: list[Run]) -> dict[str, list[Run]]:
    """The runs to draw per model for the curves: per preprocessing, the best run
    with a history (finished first, then most epochs, then latest), faithful
    ("r") before corrected."""
    with_history = [r for r in runs if r.history is not None and len(r.history) > 0]
    chosen = representative_runs(with_history)
    by_model: dict[str, list[Run]] = {}
    for (model, _), run in sorted(
        chosen.items(), key=lambda item: (item[0][0], item[0][1] != "r", item[0][1])
    ):
        by_model.setdefault(model, []).append(run)
    return by_model
