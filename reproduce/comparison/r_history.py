"""A keras history exported from R with ``write.csv(as.data.frame(history), FILE)``."""

from __future__ import annotations

import os
from pathlib import Path

from reproduce.errors import ReproduceError


def read_r_history(path: str | os.PathLike):
    """R keras' long history (columns ``epoch, value, metric, data``) as one row per epoch.

    Returns a DataFrame with ``epoch``, ``loss``, ``accuracy``, ``val_loss``, ... (``acc``
    renamed ``accuracy``, validation metrics prefixed ``val_``); the epochs R padded with NA
    after an early stop are dropped and listed in ``frame.attrs["epochs_without_values"]``.
    """
    import pandas as pd

    path = Path(path)
    try:
        frame = pd.read_csv(path, na_values=["NA"])
    except FileNotFoundError:
        raise ReproduceError(f"R history {path} does not exist") from None
    except (OSError, ValueError) as err:
        raise ReproduceError(f"R history {path} is not a CSV file: {err}") from None
    # write.csv's row-name column has an empty header, which pandas names "Unnamed: 0".
    frame = frame.rename(columns=lambda c: str(c).strip())
    frame = frame.drop(columns=[c for c in frame.columns if c == "" or c.startswith("Unnamed:")])
    missing = [c for c in ("epoch", "value", "metric", "data") if c not in frame.columns]
    if missing:
        raise ReproduceError(
            f"R history {path}: missing column(s) {', '.join(missing)}; expected the long format "
            f'of write.csv(as.data.frame(history), "{path.name}") with columns epoch, value, '
            f"metric, data (found: {', '.join(map(str, frame.columns)) or 'none'})"
        )
    frame["data"] = frame["data"].astype(str).str.strip()
    unknown = sorted(set(frame["data"]) - {"training", "validation"})
    if unknown:
        raise ReproduceError(
            f"R history {path}: column data holds {unknown}; R keras writes 'training' or "
            "'validation'"
        )
    metric = frame["metric"].astype(str).str.strip().replace({"acc": "accuracy"})
    frame["column"] = metric.where(frame["data"] == "training", "val_" + metric)
    frame["epoch"] = _numbers(frame, "epoch", path, integers=True)
    frame["value"] = _numbers(frame, "value", path, integers=False)
    wide = frame.pivot_table(
        index="epoch", columns="column", values="value", aggfunc="first", dropna=False
    )
    not_run = [int(e) for e in wide.index[wide.isna().all(axis=1)]]
    wide = wide.dropna(how="all")
    if wide.empty:
        raise ReproduceError(f"R history {path}: no values (every value is NA)")
    preferred = [c for c in ("loss", "accuracy", "val_loss", "val_accuracy") if c in wide]
    wide = wide[preferred + sorted(set(wide.columns) - set(preferred))].reset_index()
    wide["epoch"] = wide["epoch"].astype(int)
    wide.columns.name = None
    wide.attrs["epochs_without_values"] = not_run
    return wide


def _numbers(frame, column: str, path: Path, *, integers: bool):
    """``frame[column]`` as numbers. Anything unreadable is refused, not made NA: a typo must
    not silently remove an epoch, nor an epoch 1.5 be merged into epoch 1."""
    import pandas as pd

    raw = frame[column]
    numbers = pd.to_numeric(raw, errors="coerce")
    bad = numbers.isna() & raw.notna()
    if integers:
        bad |= raw.isna() | (numbers.notna() & (numbers != numbers.round()))
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        value = raw.iloc[row]
        shown = "NA" if pd.isna(value) else repr(value) if isinstance(value, str) else f"{value:g}"
        what = "a whole epoch number" if integers else "a number or NA"
        raise ReproduceError(
            f"R history {path}: row {row + 1} has {column} {shown}, not {what} "
            f"({int(bad.sum())} such row(s)); fix or remove them"
        )
    return numbers
