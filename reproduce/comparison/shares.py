"""Class balance of the test split: what always answering the majority class scores."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reproduce.data.source import (
    STAND_IN_N,
    STAND_IN_SEED,
    resolve_data,
    stand_in_json_bytes,
)
from reproduce.data.synthetic import synthetic_arrays
from reproduce.errors import ReproduceError
from reproduce.preprocess import default_n_train, split_indices
from reproduce.report_claims import CLASS_NAMES
from reproduce.runs import Run


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


def split_class_shares(
    labels,
    n_train: int | None = None,
    seed: int = 1,
    kind: str = "Rounding",
    data_sha256: str = "",
    limit_test: int | None = None,
    data_kind: str = "",
) -> SplitShares:
    """Majority-class share of the test split drawn by ``set.seed(seed); sample(1:n, n_train)``.

    The dense script's labels stay with their records even where its pixels do
    not, so the test labels are ``is_iceberg`` of the test records.
    ``n_train`` defaults to the report's proportion (1300 of 1604);
    ``limit_test`` keeps the first test images only, as a run's ``--limit-test`` does.
    """
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
    data = run.get("data", {}) or {}
    wanted = data.get("sha256")
    split = {
        "seed": int(run.get("seed", 1)),
        "kind": str(run.get("sample_kind", "Rounding")),
        "limit_test": run.get("limit_test"),
    }
    for candidate in [data_path, data.get("path") if data.get("kind") == "real" else None]:
        if not candidate or not Path(candidate).is_file():
            continue
        try:
            frame, source = resolve_data(candidate)
        except ReproduceError:
            continue
        if not wanted or source.sha256 == wanted:
            return split_class_shares(
                frame["is_iceberg"].to_numpy(),
                data_sha256=source.sha256,
                data_kind=source.kind,
                **split,
            ), ""
    if data.get("kind") == "stand-in":
        n = int(data.get("n_records") or STAND_IN_N)
        sha = hashlib.sha256(stand_in_json_bytes(n, STAND_IN_SEED)).hexdigest()
        if sha == wanted:
            labels = synthetic_arrays(n, STAND_IN_SEED)["is_iceberg"]
            return split_class_shares(labels, data_sha256=sha, data_kind="stand-in", **split), ""
    return None, (
        f"the data of run {run.name} ({data.get('kind', '?')}, sha256 {str(wanted)[:12]}) is not on "
        "this machine; pass --data"
    )
