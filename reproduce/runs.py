"""The run folders under ``--runs``, as ``compare`` and ``figures`` read them.

Each folder is read through :mod:`reproduce.engine.runfolder`, which owns the
file names and statuses. Where several runs exist for one (model,
preprocessing), :func:`representative_runs` picks one: a finished run before
an unfinished one, then the most epochs, then the latest date.

Runs that differ only in the training seed form a :class:`SeedGroup`
(:func:`seed_groups`): their ``metrics.json`` agree on every key but the
training seed, the outcome (scores, NFE, shares of the predicted classes),
the timing and the provenance (command, date, versions, commit, hardware).
The keys left out are listed (:data:`NOT_SETTINGS`) rather than the keys kept,
so that a setting added later splits groups instead of silently averaging
runs made with different settings. A run recorded before ``train_seed`` existed
was trained with its split's seed.

This module sits below both :mod:`reproduce.comparison` and
:mod:`reproduce.figures`, which both need the runs, so neither imports the other
for them.
"""

from __future__ import annotations

import json
import os
import re
import statistics
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


#: Keys of ``metrics.json`` that are not settings of a run: the training seed,
#: what the run measured, when and where it ran, how it was invoked.
NOT_SETTINGS = frozenset(
    {
        "train_seed",
        "test_loss",
        "test_accuracy",
        "train_loss",
        "train_accuracy",
        "train_loss_inference",
        "train_accuracy_inference",
        "predicted_class_shares",
        "r_style_test_accuracy",
        "nfe",
        "learned_t1",
        "wall_time_s",
        "seconds_per_epoch",
        "date",
        "finished_at",
        "sessions",
        "command",
        "argv",
        "versions",
        "git_commit",
        "hardware",
        "model_file",
        "tensorboard",
        "error",
        "error_kind",
        "data",  # replaced by its kind, sha256 and size: a path may differ for one file
    }
)
#: The outcome that :meth:`SeedGroup.mean_run` averages over the seeds.
_AVERAGED = (
    "test_accuracy",
    "test_loss",
    "train_accuracy",
    "train_loss",
    "train_accuracy_inference",
    "train_loss_inference",
    "r_style_test_accuracy",
    "wall_time_s",
    "seconds_per_epoch",
)
#: A share of one predicted class at least this large makes a constant classifier.
CONSTANT_SHARE = 1.0 - 1e-9


def train_seed(run: Run) -> int:
    """The run's training seed (its split's seed for runs recorded before the option)."""
    return int(run.get("train_seed", run.get("seed", 1)))


def settings_key(run: Run) -> str:
    """Every setting of the run (all of ``metrics.json`` but :data:`NOT_SETTINGS`), as text."""
    settings_ = {k: v for k, v in run.metrics.items() if k not in NOT_SETTINGS}
    data = run.get("data", {}) or {}
    settings_["data"] = {k: data.get(k) for k in ("kind", "sha256", "n_records")}
    settings_.setdefault("seed", 1)
    return json.dumps(settings_, sort_keys=True, default=str)


def is_constant(run: Run) -> bool | None:
    """Whether the run predicts one class for every test image (``None``: not recorded)."""
    shares = run.get("predicted_class_shares")
    if not shares:
        return None
    return max(float(v) for v in shares.values()) >= CONSTANT_SHARE


def mean_sd(values) -> tuple[float | None, float | None, int]:
    """Mean, sample standard deviation (n - 1; ``None`` below two values) and count."""
    values = [float(v) for v in values if v is not None]
    if not values:
        return None, None, 0
    sd = statistics.stdev(values) if len(values) > 1 else None
    return statistics.fmean(values), sd, len(values)


@dataclass
class SeedGroup:
    """Runs with the same settings but the training seed, sorted by training seed."""

    runs: list[Run]

    @property
    def name(self) -> str:
        """One run's name; several runs' common name without ``-t<seed>``, else the first's."""
        if len(self.runs) == 1:
            return self.runs[0].name
        stems = {re.sub(r"-t\d+$", "", run.name) for run in self.runs}
        return stems.pop() if len(stems) == 1 else self.runs[0].name

    @property
    def n(self) -> int:
        return len(self.runs)

    @property
    def train_seeds(self) -> list[int]:
        return [train_seed(run) for run in self.runs]

    def get(self, key: str, default=None):
        """A setting, read from the first run (the runs share their settings)."""
        return self.runs[0].get(key, default)

    def values(self, key: str) -> list:
        """``key`` of every run (``None`` where a run lacks it), in training-seed order."""
        return [run.get(key) for run in self.runs]

    def stats(self, key: str) -> tuple[float | None, float | None, int]:
        """:func:`mean_sd` of ``key`` over the runs that recorded it."""
        return mean_sd(self.values(key))

    def constant(self) -> tuple[int, int]:
        """(runs that predict one class, runs that recorded their predicted classes)."""
        known = [c for c in (is_constant(run) for run in self.runs) if c is not None]
        return sum(known), len(known)

    def mean_run(self) -> Run:
        """The group as one run: its first run's settings with the outcome averaged over seeds.

        ``n_seeds`` and ``train_seeds`` say how many and which; one run is itself.
        """
        if len(self.runs) == 1:
            return self.runs[0]
        metrics = dict(self.runs[0].metrics)
        for key in _AVERAGED:
            metrics[key] = self.stats(key)[0]
        nfe_means = [(run.get("nfe") or {}).get("mean_forward") for run in self.runs]
        if any(v is not None for v in nfe_means):
            metrics["nfe"] = {"mean_forward": mean_sd(nfe_means)[0]}
        metrics.update(n_seeds=self.n, train_seeds=self.train_seeds)
        return Run(self.name, self.runs[0].folder, metrics, None)

    model = property(lambda self: self.runs[0].model)
    preprocessing = property(lambda self: self.runs[0].preprocessing)
    data_sha256 = property(lambda self: self.runs[0].data_sha256)
    finished = property(lambda self: self.runs[0].finished)
    history = property(lambda self: self.runs[0].history)


def seed_groups(runs: list[Run]) -> list[SeedGroup]:
    """Group the runs that differ only in the training seed, in the order of ``runs``.

    A group holds each training seed once; a run repeating a seed with the same
    settings goes to the next group of those settings that lacks the seed.
    """
    groups: dict[str, list[list[Run]]] = {}
    for run in runs:
        same = groups.setdefault(settings_key(run), [])
        # A second run of a seed already in the group repeats it (another folder, another
        # session): it starts a group of its own rather than counting as another seed.
        home = next((g for g in same if train_seed(run) not in map(train_seed, g)), None)
        if home is None:
            same.append(home := [])
        home.append(run)
    return [
        SeedGroup(sorted(members, key=train_seed)) for same in groups.values() for members in same
    ]


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


def _group_rank(group: SeedGroup):
    """Sort key of seed groups: finished, most epochs, most seeds, latest date."""
    latest = max(str(run.get("date", "")) for run in group.runs)
    return (group.finished, int(group.get("epochs", 0) or 0), group.n, latest, group.name)


def representative_groups(
    runs: list[Run], data_sha256: str | None = None
) -> dict[tuple[str, str], SeedGroup]:
    """One seed group per (model, preprocessing): finished first, then most epochs, then
    most seeds, then latest; only runs on ``data_sha256`` when given."""
    chosen: dict[tuple[str, str], SeedGroup] = {}
    for group in seed_groups([r for r in runs if data_sha256 in (None, r.data_sha256)]):
        key = (group.model, group.preprocessing)
        if key not in chosen or _group_rank(group) > _group_rank(chosen[key]):
            chosen[key] = group
    return chosen


def curve_groups(runs: list[Run]) -> dict[str, list[SeedGroup]]:
    """The seed groups to draw per model for the curves: per preprocessing, the best
    group whose runs have a history (finished first, then most epochs, then most
    seeds, then latest), faithful ("r") before corrected."""
    with_history = [r for r in runs if r.history is not None and len(r.history) > 0]
    chosen = representative_groups(with_history)
    by_model: dict[str, list[SeedGroup]] = {}
    for (model, _), group in sorted(
        chosen.items(), key=lambda i: (i[0][0], i[0][1] != "r", i[0][1])
    ):
        by_model.setdefault(model, []).append(group)
    return by_model


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
