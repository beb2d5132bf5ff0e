"""The run folders under ``--runs`` (``metrics.json``, ``history.csv``), grouped by training seed."""

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from reproduce.errors import ReproduceError

MODELS = ("dense", "resnet", "odenet")
#: Keys of ``metrics.json`` that are not settings: the training seed, outcomes, timing and
#: provenance. Listing what is left out (not what is kept) makes a setting added later split
#: seed groups instead of silently averaging runs made with different settings.
NOT_SETTINGS = frozenset(
    "train_seed test_loss test_accuracy train_loss train_accuracy train_loss_inference "
    "train_accuracy_inference predicted_class_shares r_style_test_accuracy nfe learned_t1 "
    "wall_time_s seconds_per_epoch date finished_at sessions command argv versions git_commit "
    "hardware model_file tensorboard error error_kind data".split()
)
#: The same within the recorded command-line configuration (``metrics.json["config"]``).
CONFIG_NOT_SETTINGS = frozenset(
    "train_seed data argv verbose out run_name in_all skip_finished resume force tensorboard".split()
)


@dataclass
class RunRecord:
    """One run folder: ``metrics.json`` parsed, ``history.csv`` a DataFrame or ``None``."""

    name: str
    folder: Path
    metrics: dict
    history: object = None

    def get(self, key: str, default=None):  # null counts as missing
        value = self.metrics.get(key)
        return default if value is None else value

    model = property(lambda self: str(self.get("model", "?")))
    preprocessing = property(lambda self: str(self.get("preprocessing", "?")))
    finished = property(lambda self: self.get("status") == "finished")
    data = property(lambda self: self.get("data", {}))
    # Runs recorded before the option was trained with their split's seed.
    train_seed = property(lambda self: int(self.get("train_seed", self.get("seed", 1))))

    def settings_key(self) -> str:
        """Every setting of the run, as text; a data file is known by content, not path."""
        kept = {k: v for k, v in self.metrics.items() if k not in NOT_SETTINGS}
        kept["data"] = {k: self.data.get(k) for k in ("kind", "sha256", "n_records")}
        config = kept.get("config")
        if isinstance(config, dict):
            kept["config"] = {k: v for k, v in config.items() if k not in CONFIG_NOT_SETTINGS}
        kept.setdefault("seed", 1)
        return json.dumps(kept, sort_keys=True, default=str)


class RunScan(NamedTuple):
    runs: list[RunRecord]
    skipped: list[tuple[str, str]]  # (folder name, why)


def load_runs(runs_dir: str | os.PathLike) -> RunScan:
    """The run folders under ``runs_dir`` by model, preprocessing, name; unreadable ones skipped."""
    import pandas as pd

    root = Path(runs_dir)
    if not root.is_dir():
        raise ReproduceError(
            f"runs folder {root} does not exist (train a model first, or pass --runs)"
        )
    scan = RunScan([], [])
    for path in sorted(root.glob("*/metrics.json")):
        try:
            metrics = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(metrics, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as err:
            scan.skipped.append((path.parent.name, f"metrics.json unreadable: {err}"))
            continue
        try:
            history = pd.read_csv(path.parent / "history.csv")
            history = history if len(history) else None
        except (OSError, ValueError):
            history = None
        scan.runs.append(RunRecord(path.parent.name, path.parent, metrics, history))
    rank = {m: i for i, m in enumerate(MODELS)}
    scan.runs.sort(key=lambda r: (rank.get(r.model, len(MODELS)), r.preprocessing, r.name))
    return scan


@dataclass
class SeedGroup:
    """Runs whose settings agree but for the training seed, in training-seed order."""

    runs: list[RunRecord]

    @property
    def name(self) -> str:
        """The runs' common name without ``-t<seed>``; else the first run's."""
        stems = {re.sub(r"-t\d+$", "", run.name) for run in self.runs}
        return stems.pop() if len(stems) == 1 and self.n > 1 else self.runs[0].name

    n = property(lambda self: len(self.runs))
    train_seeds = property(lambda self: [run.train_seed for run in self.runs])
    model = property(lambda self: self.runs[0].model)
    preprocessing = property(lambda self: self.runs[0].preprocessing)
    finished = property(lambda self: self.runs[0].finished)

    def get(self, key: str, default=None):  # a setting: the runs share them
        return self.runs[0].get(key, default)

    def values(self, key: str) -> list:  # None where a run lacks the key
        return [run.get(key) for run in self.runs]


def seed_groups(runs: list[RunRecord]) -> list[SeedGroup]:
    """Group the runs that differ only in the training seed, in the order of ``runs``; a second
    run of a seed already in a group (another folder) starts a group of its own."""
    groups: dict[str, list[list[RunRecord]]] = {}
    for run in runs:
        same = groups.setdefault(run.settings_key(), [])
        home = next((g for g in same if run.train_seed not in [r.train_seed for r in g]), None)
        if home is None:
            same.append(home := [])
        home.append(run)
    return [
        SeedGroup(sorted(g, key=lambda r: r.train_seed)) for same in groups.values() for g in same
    ]


def curve_groups(runs: list[RunRecord]) -> dict[str, list[SeedGroup]]:
    """Per model, the seed groups Figures 4/7 draw: per preprocessing the best group with a
    history (finished, then in its default folder rather than a ``--run-name`` variant, then most
    epochs, most seeds, latest), faithful ("r") first."""

    def rank(g: SeedGroup):
        latest = max(str(r.get("date", "")) for r in g.runs)
        default = not (g.get("config") or {}).get("run_name")
        return (g.finished, default, int(g.get("epochs", 0)), g.n, latest, g.name)

    best = {}
    for group in sorted(seed_groups([r for r in runs if r.history is not None]), key=rank):
        best[group.model, group.preprocessing] = group  # the best ranked comes last
    by_model: dict[str, list[SeedGroup]] = {}
    for (model, _), group in sorted(best.items(), key=lambda i: (i[0][1] != "r", i[0][1])):
        by_model.setdefault(model, []).append(group)
    return by_model
