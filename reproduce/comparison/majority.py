"""The majority-class share of a run's test split: what a constant classifier scores."""

from pathlib import Path

from reproduce.errors import ReproduceError
from reproduce.runs import RunRecord


def majority_share(run: RunRecord, data_path: str | None = None) -> float | None:
    """Share of the more frequent class among the split's test labels, read from ``data_path``,
    the recorded path or the regenerated stand-in with the run's sha256 (else ``None``)."""
    from reproduce.preprocess import report_split

    data = run.data
    found = (_labels(data.get("kind"), data.get("sha256"), data.get("n_records"), path)
             for path in (data_path, data.get("path")))  # fmt: skip
    labels = next((labels for labels in found if labels is not None), None)
    if labels is None:
        return None
    seed, kind = int(run.get("seed", 1)), str(run.get("sample_kind", "Rounding"))
    test = labels[report_split(len(labels), seed=seed, kind=kind)[1]][: run.get("limit_test")]
    iceberg = float(test.mean())
    return max(iceberg, 1.0 - iceberg)


def _labels(kind, sha256, n_records, path):
    """The labels of the run's data, or ``None`` when they are not here under its sha256."""
    from reproduce.data import resolve_data, source  # both cache what they read or generate

    if kind == "stand-in":
        frame, found = source._stand_in(int(n_records or 1604), source.STAND_IN_SEED)
    elif not path or not Path(path).is_file():
        return None
    else:
        try:
            frame, found = resolve_data(path)
        except ReproduceError:
            return None
        found = found.sha256
    return frame["is_iceberg"].to_numpy().astype(int) if found == sha256 else None
