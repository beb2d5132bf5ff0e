"""A keras history exported from R, as the comparison reads it."""

from __future__ import annotations

import os
from pathlib import Path

from reproduce.errors import ReproduceError


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
    wide = frame.pivot_table(
        index="epoch", columns="column", values="value", aggfunc="first", dropna=False
    )
    wide = wide.dropna(how="all")
    if wide.empty:
        raise ReproduceError(f"R history {path}: no values (every value is NA)")
    preferred = ["loss", "accuracy", "val_loss", "val_accuracy"]
    columns = [c for c in preferred if c in wide.columns] + sorted(
        c for c in wide.columns if c not in preferred
    )
    wide = wide[columns].reset_index()
    wide["epoch"] = wide["epoch"].astype(int)
    wide.columns.name = None
    return wide


def last_value(history, column: str):
    """Last non-missing value of ``column`` in a history DataFrame, or ``None``."""
    if history is None or column not in history.columns:
        return None
    values = history[column].dropna()
    return float(values.iloc[-1]) if len(values) else None
