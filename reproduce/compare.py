"""``python -m reproduce compare``: our runs' numbers beside the report's.

Reads every run folder under ``--runs`` (``<run>/metrics.json`` and
``<run>/history.csv``, as written by the training commands) and writes a
Markdown file (default ``results/COMPARISON.md``) with

* one table: the report's figures (:mod:`reproduce.report_claims`) and, for
  each run, model, preprocessing, epochs, data, test accuracy and loss, train
  accuracy, parameters, wall time, NFE and hardware -- every number read from
  the run's files, nothing typed by hand;
* "What the differences mean": sentences computed from those numbers.

``--r-history FILE.csv`` adds a history exported from R keras with
``write.csv(as.data.frame(history), "history.csv")`` (see
:func:`read_r_history`) as a row of the table and as dashed curves on
``figures/fig04_07_curves_with_r.png``. ``--readme README.md`` replaces the
README's block between ``<!-- results:start -->`` and ``<!-- results:end -->``
with the same table and the figures.

Decisions:

* A run folder whose ``metrics.json`` cannot be read is listed under
  "Skipped" rather than stopping the comparison (a run may be writing it).
* Where several runs exist for one (model, preprocessing), the text uses one
  representative (:func:`representative_runs`): a finished run before an
  unfinished one, then the most epochs, then the latest date; the text only
  compares runs made on the same data (the data most runs used).
* "Close to" means within two binomial standard errors of the test split,
  ``2 * sqrt(p (1 - p) / n_test)``: closer than that, two accuracies cannot be
  told apart on 304 images.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from reproduce.engine.atomic import atomic_write_text
from reproduce.errors import ReproduceError
from reproduce.report_claims import CLAIMS, AccuracyClaim

MODEL_ORDER = ("dense", "resnet", "odenet")
MODEL_TITLES = {
    "dense": "dense network",
    "resnet": "residual CNN",
    "odenet": "ODE-Net",
}
README_START = "<!-- results:start -->"
README_END = "<!-- results:end -->"
#: The regenerated figures, in the report's order, with a caption each.
FIGURE_FILES = (
    ("fig03_images.png", "Figure 3: the first 25 training images as the R code draws them"),
    ("fig04_07_curves.png", "Figures 4 and 7: loss and accuracy per epoch, per model"),
    ("fig04_07_curves_with_r.png", "Figures 4 and 7 with the R keras history"),
    ("fig08_trajectories.png", "Figure 8: residual network vs Neural ODE hidden states"),
    ("fig09_solution_curves.png", "Figure 9: solution curves of dy/dx + y/2 = 3/2"),
    ("fig10_phase_portrait.png", "Figure 10: phase portrait of the logistic equation"),
    ("fig11_euler.png", "Figure 11: Euler's method, step 1, against exp(x)"),
)
#: The commands that regenerate the results section from a user's own data.
REGENERATE_COMMANDS = (
    "python -m reproduce all --data path/to/train.json",
    "python -m reproduce figures --data path/to/train.json",
    "python -m reproduce compare --readme README.md",
)
#: R lines that export a keras history in the format :func:`read_r_history` reads.
R_EXPORT_LINES = (
    "history <- iceberg_nn %>% fit(train_iceberg, train_truth, epochs = 150)  # or model_resNN",
    'write.csv(as.data.frame(history), "history.csv")',
)


# --------------------------------------------------------------------------- runs


@dataclass
class Run:
    """One training run folder: its ``metrics.json`` and ``history.csv``.

    Attributes:
        name: the folder's name.
        folder: the folder.
        metrics: the parsed ``metrics.json``.
        history: ``history.csv`` as a DataFrame (``None`` if absent or unreadable).
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
        return self.get("status") == "finished"


@dataclass
class RunScan:
    """What :func:`load_runs` found: the runs, and the folders it had to skip (with why)."""

    runs: list[Run] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def load_runs(runs_dir: str | os.PathLike) -> RunScan:
    """Read every ``<runs_dir>/<run>/metrics.json`` (and ``history.csv`` beside it).

    Folders without ``metrics.json`` (e.g. ``figures/``) are ignored; folders
    whose ``metrics.json`` is not a JSON object are reported in ``skipped``.
    Runs are sorted by model (dense, resnet, odenet), preprocessing, name.

    Raises:
        ReproduceError: ``runs_dir`` does not exist.
    """
    import pandas as pd

    root = Path(runs_dir)
    if not root.is_dir():
        raise ReproduceError(f"runs folder {root} does not exist (train a model first, or pass --runs)")
    scan = RunScan()
    for metrics_path in sorted(root.glob("*/metrics.json")):
        folder = metrics_path.parent
        try:
            metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
            if not isinstance(metrics, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as err:
            scan.skipped.append((folder.name, f"metrics.json unreadable: {err}"))
            continue
        history = None
        history_path = folder / "history.csv"
        if history_path.is_file():
            try:
                history = pd.read_csv(history_path)
            except (OSError, ValueError, pd.errors.EmptyDataError):
                history = None
        scan.runs.append(Run(folder.name, folder, metrics, history))

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


def representative_runs(runs: list[Run], data_sha256: str | None = None) -> dict[tuple[str, str], Run]:
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
    with a ``history.csv`` (finished first, then most epochs, then latest), faithful
    ("r") before corrected."""
    with_history = [r for r in runs if r.history is not None and len(r.history) > 0]
    chosen = representative_runs(with_history)
    by_model: dict[str, list[Run]] = {}
    for (model, _), run in sorted(chosen.items(), key=lambda item: (item[0][0], item[0][1] != "r", item[0][1])):
        by_model.setdefault(model, []).append(run)
    return by_model


# --------------------------------------------------------------------------- R history


def read_r_history(path: str | os.PathLike):
    """Read a keras history exported from R with ``write.csv(as.data.frame(history), FILE)``.

    R keras' ``as.data.frame(history)`` is long: one row per (metric, epoch)
    with columns ``epoch, value, metric, data``; ``data`` is ``training`` or
    ``validation``; epochs never run (early stop) are padded with ``NA``.
    ``write.csv`` quotes strings with ``"`` and writes an unnamed first
    column of row names (``""``) unless ``row.names = FALSE``. Both are accepted.
    Metric ``acc`` (older keras) is renamed ``accuracy``; validation metrics
    get the prefix ``val_`` as in Keras' own history.

    Returns:
        pandas.DataFrame, one row per epoch that has any value, column
        ``epoch`` then ``loss``, ``accuracy``, ``val_loss``, ... .

    Raises:
        ReproduceError: unreadable file, missing columns, unknown ``data`` value,
            or no values at all.
    """
    import pandas as pd

    path = Path(path)
    try:
        frame = pd.read_csv(path, na_values=["NA"], keep_default_na=True)
    except FileNotFoundError:
        raise ReproduceError(f"R history {path} does not exist") from None
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ReproduceError(f"R history {path} is not a CSV file: {err}") from None
    # write.csv's row-name column has an empty header, which pandas names "Unnamed: 0".
    frame = frame.rename(columns=lambda c: str(c).strip())
    unnamed = [c for c in frame.columns if c == "" or c.startswith("Unnamed:")]
    frame = frame.drop(columns=unnamed)
    required = ["epoch", "value", "metric", "data"]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ReproduceError(
            f"R history {path}: missing column(s) {', '.join(missing)}; expected the long format of "
            f'write.csv(as.data.frame(history), "{path.name}") with columns epoch, value, metric, data '
            f"(found: {', '.join(map(str, frame.columns)) or 'none'})"
        )
    frame["data"] = frame["data"].astype(str).str.strip()
    unknown = sorted(set(frame["data"]) - {"training", "validation"})
    if unknown:
        raise ReproduceError(
            f"R history {path}: column data holds {unknown}; R keras writes 'training' or 'validation'"
        )
    metric = frame["metric"].astype(str).str.strip().replace({"acc": "accuracy"})
    frame["column"] = metric.where(frame["data"] == "training", "val_" + metric)
    frame["epoch"] = pd.to_numeric(frame["epoch"], errors="coerce")
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
    frame = frame.dropna(subset=["epoch"])
    wide = frame.pivot_table(index="epoch", columns="column", values="value", aggfunc="first", dropna=False)
    wide = wide.dropna(how="all")
    if wide.empty:
        raise ReproduceError(f"R history {path}: no values (every value is NA)")
    preferred = ["loss", "accuracy", "val_loss", "val_accuracy"]
    columns = [c for c in preferred if c in wide.columns] + sorted(c for c in wide.columns if c not in preferred)
    wide = wide[columns].reset_index()
    wide["epoch"] = wide["epoch"].astype(int)
    wide.columns.name = None
    return wide


def _last_value(history, column: str):
    """Last non-missing value of ``column`` in a history DataFrame, or ``None``."""
    if history is None or column not in history.columns:
        return None
    values = history[column].dropna()
    return float(values.iloc[-1]) if len(values) else None


# --------------------------------------------------------------------------- formatting


def _pct(value, digits: int = 1) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def _num(value, fmt: str = ".3f") -> str:
    return "–" if value is None else format(value, fmt)


def _points(difference: float) -> str:
    """A difference of two accuracies in percentage points."""
    return f"{abs(difference) * 100:.1f} percentage points"


def _wall_time(seconds) -> str:
    if seconds is None:
        return "–"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _data_label(data: dict | None) -> str:
    if not data:
        return "–"
    kind = data.get("kind", "?")
    sha = str(data.get("sha256") or "")[:12]
    return f"{kind} `{sha}`" if sha else str(kind)


def _nfe_label(nfe) -> str:
    if not nfe:
        return "–"
    last, mean = nfe.get("last_forward"), nfe.get("mean_forward")
    parts = []
    if last is not None:
        parts.append(f"{last} (last)")
    if mean is not None:
        parts.append(f"{mean:.1f} (mean)")
    return ", ".join(parts) or "–"


def _epochs_label(run: Run) -> str:
    done, planned = run.get("epochs"), run.get("epochs_planned")
    text = "–" if done is None else str(done)
    if planned is not None and planned != done:
        text += f" of {planned}"
    if run.get("quick"):
        text += " (quick)"
    return text


def _images_label(run: Run) -> str:
    n_train, n_test = run.get("n_train"), run.get("n_test")
    return "–" if n_train is None and n_test is None else f"{n_train if n_train is not None else '?'}/{n_test if n_test is not None else '?'}"


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


TABLE_HEADER = (
    "source",
    "model",
    "preprocessing",
    "status",
    "epochs",
    "images (train/test)",
    "data",
    "test accuracy",
    "test loss",
    "train accuracy",
    "train loss",
    "params",
    "wall time",
    "NFE",
    "hardware",
)


def claim_row(claim: AccuracyClaim) -> list[str]:
    """The table row of one of the report's figures."""
    return [
        f"report §{claim.section}",
        claim.model,
        "r (as printed)" if claim.epochs else "–",
        "reported" if claim.epochs else "not trained",
        "–" if claim.epochs is None else str(claim.epochs),
        "–" if claim.n_train is None else f"{claim.n_train}/{claim.n_test}",
        "real (Kaggle)" if claim.epochs else "–",
        claim.display() + ("" if claim.split.startswith("test") or claim.test_accuracy is None else " (split unclear)"),
        "–",
        "–",
        "–",
        "–",
        "–",
        "–",
        "–",
    ]


def run_row(run: Run) -> list[str]:
    """The table row of one run, every number read from its ``metrics.json``."""
    params = run.get("params")
    return [
        f"`{run.name}`",
        run.model,
        {"r": "r (faithful)", "corrected": "corrected"}.get(run.preprocessing, run.preprocessing),
        str(run.get("status", "?")),
        _epochs_label(run),
        _images_label(run),
        _data_label(run.get("data")),
        _pct(run.get("test_accuracy")),
        _num(run.get("test_loss")),
        _pct(run.get("train_accuracy")),
        _num(run.get("train_loss")),
        "–" if params is None else f"{int(params):,}",
        _wall_time(run.get("wall_time_s")),
        _nfe_label(run.get("nfe")),
        _escape(run.get("hardware", "–")),
    ]


def r_history_row(history, label: str, model: str) -> list[str]:
    """The table row of an R keras history (final training values; validation, if any,
    stands in the test columns, marked as such)."""
    val_acc = _last_value(history, "val_accuracy")
    val_loss = _last_value(history, "val_loss")
    return [
        f"R keras `{_escape(label)}`",
        model,
        "r (R itself)",
        "history",
        str(int(history["epoch"].max())),
        "–",
        "–",
        "–" if val_acc is None else f"{_pct(val_acc)} (validation)",
        "–" if val_loss is None else f"{_num(val_loss)} (validation)",
        _pct(_last_value(history, "accuracy")),
        _num(_last_value(history, "loss")),
        "–",
        "–",
        "–",
        "–",
    ]


def markdown_table(rows: list[list[str]], header=TABLE_HEADER) -> str:
    """Render rows as a GitHub Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(cell for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def comparison_rows(runs: list[Run], r_history=None, r_label: str = "", r_model: str = "dense") -> list[list[str]]:
    """All table rows: per model, the report's figure, then our runs, then R's history."""
    rows: list[list[str]] = []
    models = list(MODEL_ORDER) + sorted({r.model for r in runs} - set(MODEL_ORDER))
    for model in models:
        if model in CLAIMS:
            rows.append(claim_row(CLAIMS[model]))
        rows += [run_row(run) for run in runs if run.model == model]
        if r_history is not None and model == r_model:
            rows.append(r_history_row(r_history, r_label, r_model))
    return rows


# --------------------------------------------------------------------------- what it means


def binomial_margin(p: float, n: int) -> float:
    """Two standard errors of an accuracy ``p`` measured on ``n`` images."""
    return 2.0 * math.sqrt(max(p * (1.0 - p), 1e-12) / n)


@dataclass(frozen=True)
class SplitShares:
    """Class balance of the dense script's test split for one data file.

    Attributes:
        n_test: images in the test split.
        majority_share: share of the more frequent class among them.
        majority_name: that class's name ("Not an Iceberg" = ship, or "An Iceberg").
        data_sha256: the data it was computed from.
        data_kind: ``"real"`` or ``"stand-in"``.
    """

    n_test: int
    majority_share: float
    majority_name: str
    data_sha256: str
    data_kind: str = ""


def split_class_shares(labels, n_train: int | None = None, seed: int = 1, kind: str = "Rounding",
                       data_sha256: str = "", limit_test: int | None = None, data_kind: str = "") -> SplitShares:
    """Majority-class share of the test split drawn by ``set.seed(seed); sample(1:n, n_train)``.

    The dense script's labels stay with their records even where its pixels do
    not, so the test labels are ``is_iceberg`` of the test records.
    ``n_train`` defaults to the report's proportion (1300 of 1604);
    ``limit_test`` keeps the first test images only, as a run's ``--limit-test`` does.
    """
    import numpy as np

    from reproduce.preprocess import default_n_train, split_indices
    from reproduce.report_claims import CLASS_NAMES

    labels = np.asarray(labels).astype(int)
    if n_train is None:
        n_train = default_n_train(len(labels))
    _, test_idx = split_indices(len(labels), n_train=n_train, seed=seed, kind=kind)
    test = labels[np.asarray(test_idx)][:limit_test]
    iceberg_share = float(test.mean())
    majority_is_iceberg = iceberg_share > 0.5
    return SplitShares(
        n_test=int(len(test)),
        majority_share=iceberg_share if majority_is_iceberg else 1.0 - iceberg_share,
        majority_name=CLASS_NAMES[int(majority_is_iceberg)],
        data_sha256=data_sha256,
        data_kind=data_kind,
    )


def shares_for_run(run: Run, data_path: str | None = None) -> tuple[SplitShares | None, str]:
    """Class balance of the test split of the data a run used.

    The data is looked for at ``data_path``, then at the path recorded in the
    run; a stand-in run's data is regenerated (``n_records`` records, seed 0)
    and accepted only if its sha256 matches the run's. Returns
    ``(shares, why_not)``; ``shares`` is ``None`` when the data is not here.
    """
    import hashlib

    from reproduce import data as data_module
    from reproduce.synthetic import synthetic_arrays

    data = run.get("data", {}) or {}
    wanted = data.get("sha256")
    split = {"seed": int(run.get("seed", 1)), "kind": str(run.get("sample_kind", "Rounding")),
             "limit_test": run.get("limit_test")}
    for candidate in [data_path, data.get("path") if data.get("kind") == "real" else None]:
        if not candidate or not Path(candidate).is_file():
            continue
        try:
            frame, source = data_module.resolve_data(candidate)
        except ReproduceError:
            continue
        if not wanted or source.sha256 == wanted:
            return split_class_shares(frame["is_iceberg"].to_numpy(), data_sha256=source.sha256,
                                      data_kind=source.kind, **split), ""
    if data.get("kind") == "stand-in":
        n = int(data.get("n_records") or data_module.STAND_IN_N)
        sha = hashlib.sha256(data_module.stand_in_json_bytes(n, data_module.STAND_IN_SEED)).hexdigest()
        if sha == wanted:
            labels = synthetic_arrays(n, data_module.STAND_IN_SEED)["is_iceberg"]
            return split_class_shares(labels, data_sha256=sha, data_kind="stand-in", **split), ""
    return None, (
        f"the data of run {run.name} ({data.get('kind', '?')}, sha256 {str(wanted)[:12]}) is not on "
        "this machine; pass --data"
    )


def explain(runs: list[Run], shares: SplitShares | None = None, shares_note: str = "") -> list[str]:
    """"What the differences mean": one paragraph per question, computed from the runs.

    Args:
        runs: all runs; the text uses :func:`representative_runs` on the data
            most runs used.
        shares: class balance of that data's test split (``None``: not available).
        shares_note: why ``shares`` is missing, said in the text.
    """
    sha = primary_data_sha(runs)
    chosen = representative_runs(runs, sha)
    paragraphs = []
    if not runs:
        return ["No runs found: train the models first; then this section compares them."]
    sample = next(r for r in runs if r.data_sha256 == sha)
    data_kind = (sample.get("data", {}) or {}).get("kind", "?")
    intro = f"The text below uses the runs on {data_kind} data (sha256 `{sha[:12]}`)"
    if data_kind == "stand-in":
        intro += (
            "; the stand-in is generated, not Kaggle's images, so its accuracies say how the "
            "pipelines behave, not what the report's models scored on the real data"
        )
    quick = [r for r in chosen.values() if r.get("quick") or (r.get("epochs") or 0) < 150]
    if quick:
        names = ", ".join(f"{r.model}/{r.preprocessing} ({r.get('epochs')} epochs)" for r in quick)
        intro += f". Shorter than the report's 150 epochs: {names}"
    paragraphs.append(intro + ".")
    paragraphs.append(_explain_dense(chosen, shares, shares_note))
    paragraphs.append(_explain_resnet(chosen))
    paragraphs.append(_explain_odenet(chosen))
    return [p for p in paragraphs if p]


def _explain_dense(chosen, shares: SplitShares | None, shares_note: str) -> str:
    faithful, corrected = chosen.get(("dense", "r")), chosen.get(("dense", "corrected"))
    claim = CLAIMS["dense"]
    text = ["**The dense script's truncation and scaling bugs.**"]
    if faithful is None and corrected is None:
        return " ".join(text + ["No dense run: nothing to compare."])
    n_test = shares.n_test if shares else int((faithful or corrected).get("n_test", claim.n_test or 304))
    if faithful is not None and corrected is not None:
        a_r, a_c = faithful.get("test_accuracy"), corrected.get("test_accuracy")
        if a_r is not None and a_c is not None:
            margin = binomial_margin(max(a_r, a_c), n_test)
            diff = a_c - a_r
            n_records = int(((faithful.get("data") or {}).get("n_records")) or 1604)
            text.append(
                f"With R's preprocessing as printed (pixels of records 1-{math.ceil(n_records / 2)} "
                f"only, half of them HV bands, paired with the labels of records 1-{n_records}; "
                f"test images left unscaled) the "
                f"dense network reached {_pct(a_r)} test accuracy after {faithful.get('epochs')} "
                f"epochs; with the corrected pipeline {_pct(a_c)} after {corrected.get('epochs')}."
            )
            if abs(diff) <= margin:
                text.append(
                    f"The difference ({_points(diff)}) is within two standard errors "
                    f"({_points(margin)} on {n_test} test images): these runs do not show a cost."
                )
            elif diff > 0:
                text.append(f"The bugs cost {_points(diff)} of test accuracy.")
            else:
                text.append(
                    f"Here the faithful pipeline scored {_points(diff)} higher than the corrected "
                    f"one, beyond two standard errors ({_points(margin)}); the bugs are not what "
                    f"held it back in these runs."
                )
    else:
        present = faithful or corrected
        missing = "corrected" if faithful is not None else "faithful (r)"
        text.append(
            f"Only a {present.preprocessing} dense run exists ({_pct(present.get('test_accuracy'))} "
            f"test accuracy); train the {missing} one to measure the bugs' cost."
        )
    if shares is not None:
        m = shares.majority_share
        margin = binomial_margin(m, shares.n_test)
        text.append(
            f"The majority class ({shares.majority_name}) makes up {_pct(m)} of the {shares.n_test} "
            f"test images, so always answering it scores {_pct(m)}."
        )
        if faithful is not None and faithful.get("test_accuracy") is not None:
            a_r = faithful.get("test_accuracy")
            if abs(a_r - m) <= margin:
                text.append(
                    f"The faithful run's {_pct(a_r)} is within {_points(margin)} (two standard "
                    f"errors) of that: no better than guessing the majority class."
                )
            elif a_r > m:
                text.append(f"The faithful run's {_pct(a_r)} is {_points(a_r - m)} above it: it learned something.")
            else:
                text.append(f"The faithful run's {_pct(a_r)} is {_points(a_r - m)} below it.")
        same_split = (
            shares.data_kind == "real"
            and faithful is not None
            and int(faithful.get("seed", 1)) == 1
            and faithful.get("sample_kind", "Rounding") == "Rounding"
            and not faithful.get("limit_test")
        )
        if same_split and claim.test_accuracy is not None:
            # Real data, set.seed(1), R 3.5's sampler, all test images: the report's own test split.
            gap = claim.test_accuracy - m
            closeness = (
                "within two standard errors of it, as a network that learned nothing would score"
                if abs(gap) <= margin
                else f"{_points(gap)} {'above' if gap > 0 else 'below'} it"
            )
            text.append(f"The report's {claim.display()}, measured on this same test split, is {closeness}.")
    elif shares_note:
        text.append(f"The majority-class share of the test split was not computed: {shares_note}.")
    return " ".join(text)


def _explain_resnet(chosen) -> str:
    claim = CLAIMS["resnet"]
    text = [f"**Is the report's \"{claim.display()}\" a train or a test figure?**"]
    runs = [chosen[k] for k in (("resnet", "r"), ("resnet", "corrected")) if k in chosen]
    if not runs:
        return " ".join(text + ["No residual CNN run: nothing to compare."])
    run = runs[0]
    train, test = run.get("train_accuracy"), run.get("test_accuracy")
    target = claim.test_accuracy
    text.append(
        f"Our residual CNN (`{run.name}`, {run.get('epochs')} epochs) reached {_pct(train)} on the "
        f"training images and {_pct(test)} on the test images."
    )
    if train is not None and test is not None:
        if train >= target > test:
            text.append(
                f"Only the training figure clears {_pct(target, 0)}: the report's number looks like "
                f"an accuracy on the training images (Keras prints it after every epoch)."
            )
        elif train >= target and test >= target:
            text.append(f"Both clear {_pct(target, 0)}, so this run cannot tell which split the report scored.")
        elif test >= target > train:
            text.append(f"Only the test figure clears {_pct(target, 0)} here (training accuracy is measured with dropout on).")
        else:
            nearer = "training" if abs(train - target) < abs(test - target) else "test"
            text.append(
                f"Neither reaches {_pct(target, 0)} in this run; the {nearer} figure is the nearer "
                f"({_points(min(abs(train - target), abs(test - target)))} short)."
            )
    r_style = run.get("r_style_test_accuracy")
    if r_style is not None:
        text.append(
            "The report's scoring line `mean(round(predict(model_resNN, test_iceberg))[,2] == "
            "test_truth)` compares a vector of predictions with the one-hot test matrix; R "
            "recycles the vector over both columns, and for each image exactly one column "
            f"matches, so run as printed it gives {_num(r_style)} here whatever the model"
            + (
                f": the report's \"{claim.display()}\" cannot have come from that line as printed."
                if abs(r_style - target) > binomial_margin(target, claim.n_test or 304)
                else "."
            )
        )
    text.append(
        "The report adds \"using mean squared error as the measure\", yet the code trains with "
        "binary cross-entropy and reports accuracy; nothing in the code computes a squared error."
    )
    return " ".join(text)


def _explain_odenet(chosen) -> str:
    text = ["**The ODE-Net against the residual CNN.**"]
    ode = chosen.get(("odenet", "r")) or chosen.get(("odenet", "corrected"))
    res = chosen.get(("resnet", "r")) or chosen.get(("resnet", "corrected"))
    if ode is None:
        return " ".join(text + ["No ODE-Net run (the report trains none either: its section 4.2 is empty)."])
    if res is None:
        return " ".join(text + [f"ODE-Net: {_pct(ode.get('test_accuracy'))} test accuracy; no residual CNN run to compare with."])
    p_o, p_r = ode.get("params"), res.get("params")
    if p_o and p_r:
        text.append(
            f"The ODE-Net has {int(p_o):,} parameters, {p_o / p_r:.1%} of the residual CNN's "
            f"{int(p_r):,} ({'fewer' if p_o < p_r else 'more'})."
        )
    a_o, a_r = ode.get("test_accuracy"), res.get("test_accuracy")
    if a_o is not None and a_r is not None:
        margin = binomial_margin(max(a_o, a_r), int(min(ode.get("n_test", 304), res.get("n_test", 304))))
        if abs(a_o - a_r) <= margin:
            verdict = f"within two standard errors ({_points(margin)}) of each other"
        else:
            verdict = f"the ODE-Net {_points(a_o - a_r)} {'above' if a_o > a_r else 'below'}"
        text.append(
            f"Test accuracy: {_pct(a_o)} ({ode.get('epochs')} epochs) against {_pct(a_r)} "
            f"({res.get('epochs')} epochs), {verdict}."
        )
    nfe = ode.get("nfe") or {}
    if nfe.get("mean_forward") is not None:
        text.append(
            f"Each forward pass of its ODE block cost {nfe['mean_forward']:.1f} evaluations of the "
            f"dynamics on average (the residual CNN's two blocks are two fixed steps)."
        )
    s_o, s_r = ode.get("seconds_per_epoch"), res.get("seconds_per_epoch")
    if s_o and s_r:
        text.append(f"Time per epoch: {s_o:.1f} s against {s_r:.1f} s ({s_o / s_r:.2f} times).")
    return " ".join(text)


# --------------------------------------------------------------------------- documents


def figure_links(figures_dir: Path, relative_to: Path) -> list[str]:
    """Markdown image lines for the figures that exist, relative to ``relative_to``."""
    lines = []
    for name, caption in FIGURE_FILES:
        path = figures_dir / name
        if path.is_file():
            rel = Path(os.path.relpath(path.resolve(), relative_to.resolve())).as_posix()
            lines.append(f"![{caption}]({rel})")
    return lines


def comparison_markdown(
    runs: list[Run],
    rows: list[list[str]],
    paragraphs: list[str],
    figures: list[str],
    skipped: list[tuple[str, str]],
    r_history_file: str | None,
) -> str:
    """The whole ``COMPARISON.md``."""
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    parts = [
        "# Our numbers beside the report's",
        "",
        f"Generated by `python -m reproduce compare` on {now} from {len(runs)} run folder(s); "
        "every number in the table is read from the runs' `metrics.json` (the report's rows "
        "quote the report: `reproduce/report_claims.py`). Do not edit by hand.",
        "",
        markdown_table(rows),
        "",
        "NFE: evaluations of the ODE dynamics per forward pass. Test accuracy of the R row is "
        "R's validation split, when R had one.",
        "",
        "## What the differences mean",
        "",
    ]
    for paragraph in paragraphs:
        parts += [paragraph, ""]
    if skipped:
        parts += ["## Skipped run folders", ""] + [f"- `{name}`: {why}" for name, why in skipped] + [""]
    parts += [
        "## Bring your R history",
        "",
        "If you run the report's R scripts, export the keras history in R with",
        "",
        "```r",
        *R_EXPORT_LINES,
        "```",
        "",
        "and pass it with `python -m reproduce compare --r-history history.csv`"
        + (f" (this file used `{r_history_file}`)." if r_history_file else "."),
        "",
    ]
    if figures:
        parts += ["## Figures", ""] + [f"{line}\n" for line in figures]
    return "\n".join(parts).rstrip() + "\n"


def readme_block(rows: list[list[str]], figures: list[str], comparison_link: str) -> str:
    """What goes between the README markers: the table, a link to the full
    comparison (``comparison_link``, relative to the README) and the figures."""
    return "\n".join(
        [
            "",
            "<!-- generated by `python -m reproduce compare --readme README.md`; edits here are overwritten -->",
            "",
            markdown_table(rows),
            "",
            "What the differences mean, in words computed from these numbers: "
            f"[{comparison_link}]({comparison_link}).",
            "",
            "The same table for your own copy of Kaggle's `train.json` (runs, figures, comparison):",
            "",
            "```bash",
            *REGENERATE_COMMANDS,
            "```",
            "",
            *[f"{line}\n" for line in figures],
        ]
    ).rstrip() + "\n"


def replace_between_markers(text: str, block: str, source: str = "README") -> str:
    """Replace what lies between ``<!-- results:start -->`` and ``<!-- results:end -->``.

    Raises:
        ReproduceError: a marker is missing, repeated or out of order.
    """
    starts, ends = text.count(README_START), text.count(README_END)
    if starts != 1 or ends != 1:
        raise ReproduceError(
            f"{source}: expected one '{README_START}' and one '{README_END}' marker "
            f"(found {starts} and {ends}); add them where the results table should go"
        )
    if text.index(README_END) < text.index(README_START):
        raise ReproduceError(f"{source}: '{README_END}' comes before '{README_START}'")
    head, rest = text.split(README_START)
    _, tail = rest.split(README_END)
    return head + README_START + "\n" + block + README_END + tail


# --------------------------------------------------------------------------- command


def run_compare(
    runs_dir: str | os.PathLike = "results",
    out: str | os.PathLike | None = None,
    r_history: str | os.PathLike | None = None,
    r_model: str = "dense",
    readme: str | os.PathLike | None = None,
    data_path: str | None = None,
    compute_shares: bool = True,
) -> Path:
    """Write the comparison; return the path of the Markdown file.

    Args:
        runs_dir: folder of run folders.
        out: the Markdown file (default ``<runs_dir>/COMPARISON.md``).
        r_history: an R keras history CSV (see :func:`read_r_history`).
        r_model: which of our models that R history belongs to.
        readme: a README whose results block to replace.
        data_path: where the runs' data is, when not at the path recorded in them.
        compute_shares: load the data to compute the test split's class balance.
    """
    runs_dir = Path(runs_dir)
    out = Path(out) if out is not None else runs_dir / "COMPARISON.md"
    readme_text = None
    if readme is not None:  # fail before doing any work
        try:
            readme_text = Path(readme).read_text(encoding="utf-8")
        except OSError as err:
            raise ReproduceError(f"cannot read README {readme}: {err}") from None
        replace_between_markers(readme_text, "", str(readme))
    scan = load_runs(runs_dir)
    history_r = read_r_history(r_history) if r_history else None
    figures_dir = runs_dir / "figures"
    if history_r is not None:
        from reproduce.figures import plot_curves_side_by_side

        figures_dir.mkdir(parents=True, exist_ok=True)
        plot_curves_side_by_side(
            curve_runs(scan.runs),
            figures_dir / "fig04_07_curves_with_r.png",
            r_history=history_r,
            r_model=r_model,
            r_label=Path(r_history).name,
        )
    shares, shares_note = None, ""
    if compute_shares:
        sha = primary_data_sha(scan.runs)
        dense = [r for r in scan.runs if r.model == "dense" and r.data_sha256 == sha] or [
            r for r in scan.runs if r.data_sha256 == sha
        ]
        if dense:
            shares, shares_note = shares_for_run(dense[0], data_path)
    rows = comparison_rows(scan.runs, history_r, Path(r_history).name if r_history else "", r_model)
    paragraphs = explain(scan.runs, shares, shares_note)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        out,
        comparison_markdown(
            scan.runs, rows, paragraphs, figure_links(figures_dir, out.parent), scan.skipped,
            str(r_history) if r_history else None,
        ),
    )
    if readme is not None:
        readme_path = Path(readme)
        link = Path(os.path.relpath(out.resolve(), readme_path.parent.resolve())).as_posix()
        block = readme_block(rows, figure_links(figures_dir, readme_path.parent), link)
        atomic_write_text(readme_path, replace_between_markers(readme_text, block, str(readme)))
    return out


def _command(args) -> int:
    out = run_compare(
        runs_dir=args.runs,
        out=args.out,
        r_history=args.r_history,
        r_model=args.r_model,
        readme=args.readme,
        data_path=args.data,
    )
    print(f"wrote {out}")
    if args.readme:
        print(f"updated the results block of {args.readme}")
    return 0


def register(subparsers) -> None:
    """Add the ``compare`` command."""
    parser = subparsers.add_parser(
        "compare",
        help="write results/COMPARISON.md: our runs' numbers beside the report's",
        description=(
            "Read every run folder under --runs and write a Markdown table of the report's figures "
            "beside ours, with what the differences mean. Every number comes from the runs' files."
        ),
    )
    parser.add_argument("--runs", default="results", help="folder of run folders (default: results)")
    parser.add_argument("--out", default=None, help="Markdown file to write (default: RUNS/COMPARISON.md)")
    parser.add_argument(
        "--r-history",
        default=None,
        metavar="FILE.csv",
        help='R keras history written by write.csv(as.data.frame(history), "FILE.csv") in R',
    )
    parser.add_argument(
        "--r-model",
        default="dense",
        choices=MODEL_ORDER,
        help="which model the R history belongs to (default: dense)",
    )
    parser.add_argument(
        "--readme",
        default=None,
        help="README whose block between <!-- results:start --> and <!-- results:end --> is replaced",
    )
    parser.add_argument(
        "--data",
        default=None,
        help="the runs' train.json, if not at the path recorded in them (for the test split's class balance)",
    )
    parser.set_defaults(func=_command)
