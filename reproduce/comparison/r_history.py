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
        ``epoch`` then ``loss``, ``accuracy``, ``val_loss``, ... . The epochs
        dropped because every value was NA are listed in
        ``frame.attrs["epochs_without_values"]``.

    Raises:
        ReproduceError: unreadable file, missing columns, unknown ``data`` value,
            an epoch that is not a whole number, a value that is neither a
            number nor NA (naming the first such row), or no values at all.
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
    frame["epoch"] = _numbers(frame, "epoch", path, integers=True)
    frame["value"] = _numbers(frame, "value", path, integers=False)
    wide = frame.pivot_table(
        index="epoch", columns="column", values="value", aggfunc="first", dropna=False
    )
    # R pads the epochs an early stop never ran with NA: those rows are dropped, and said so.
    not_run = [int(e) for e in wide.index[wide.isna().all(axis=1)]]
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
    wide.attrs["epochs_without_values"] = not_run
    return wide


def _numbers(frame, column: str, path: Path, *, integers: bool):
    """``frame[column]`` as numbers; NA stays missing, anything else unreadable is refused.

    Refusing (rather than coercing to NA) keeps a typo from silently removing an
    epoch, and an epoch such as 1.5 from being merged into epoch 1.
    """
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


def last_value(history, column: str):
    """Last non-missing value of ``column`` in a history DataFrame, or ``None``."""
    if history is None or column not in history.columns:
        return None
    values = history[column].dropna()
    return float(values.iloc[-1]) if len(values) else None
