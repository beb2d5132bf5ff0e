"""The arrays the report's two R scripts feed to Keras, as R builds them or as the author meant.
``"r"`` is the report's R code, bugs included; ``"corrected"`` one image per record with its label,
row-major, train and test scaled alike; ``"r-array-only"`` and ``"r-scaling-only"`` keep one of the
dense script's two bugs. Inputs are frames of :func:`reproduce.data.load_train_json` (columns
``band_1``, ``band_2``, ``is_iceberg``)."""

import math

import numpy as np
import pandas as pd

from reproduce import settings
from reproduce.errors import DataError
from reproduce.rcompat import r_aperm, r_array, r_sample

IMAGE_SIDE = 75


def _check_mode(preprocessing: str, modes=settings.PREPROCESSINGS) -> None:
    if preprocessing not in modes:
        raise ValueError(f"preprocessing must be one of {modes}, got {preprocessing!r}")


def _bands(df: pd.DataFrame, column: str, records=slice(None)) -> np.ndarray:
    """One band of the records as float64 [n, 5625] (R's doubles), row-major as in the file."""
    if len(df) == 0:
        raise DataError("the data has no records")
    return np.stack(df[column].to_numpy()[records]).astype(np.float64, copy=False)


def dense_inputs(df: pd.DataFrame, preprocessing: str = "r") -> tuple[np.ndarray, np.ndarray]:
    """Images ``[n, 75, 75]`` (float32) and labels ``[n]`` (int64) of the dense network, unsplit.

    ``"r"`` and ``"r-array-only"`` reproduce ``array(dim=c(75,75,1604))`` of appendix 7.1.2: each
    record supplies two images to an array of ``n``, so R silently keeps the first half: image
    ``k`` (1-based) is ``band_1`` of record ``(k+1)/2`` for odd ``k``, ``band_2`` of record ``k/2``
    for even ``k``, transposed by the column-major fill, while label ``k`` stays record ``k``'s.
    The other modes take each record's ``band_1`` (HH, the stronger band), untransposed."""
    _check_mode(preprocessing, settings.DENSE_PREPROCESSINGS)
    n, y = len(df), df["is_iceberg"].to_numpy(dtype=np.int64)
    if preprocessing not in ("r", "r-array-only"):
        return _bands(df, "band_1").reshape(n, IMAGE_SIDE, IMAGE_SIDE).astype(np.float32), y
    # array() keeps the first n bands, from the first ceil(n/2) records: the others never count.
    reaching = slice(0, math.ceil(n / 2))
    values = np.concatenate([_bands(df, "band_1", reaching), _bands(df, "band_2", reaching)], 1)
    x = r_aperm(r_array(values, (IMAGE_SIDE, IMAGE_SIDE, n)), (3, 1, 2))
    return np.ascontiguousarray(x, dtype=np.float32), y


def resnet_inputs(df: pd.DataFrame, preprocessing: str = "r") -> tuple[np.ndarray, np.ndarray]:
    """Images ``[n, 75, 75, 3]`` (float32) and one-hot labels ``[n, 2]`` of the residual CNN.

    ``"r"`` reproduces appendix 7.2.2: channels HH, HV and their mean, labels with their images;
    the fill only transposes every image (``"corrected"`` does not). Label columns are ship,
    iceberg (``classvec2classmat``'s order), two even on one-class data."""
    _check_mode(preprocessing)
    n, labels = len(df), df["is_iceberg"].to_numpy(dtype=np.int64)
    y = np.stack([1 - labels, labels], axis=1).astype(np.float32)
    hh, hv = _bands(df, "band_1"), _bands(df, "band_2")
    # The mean in float64 as R takes it (R's long-double mean of two doubles rounds the same).
    channels = np.stack([hh, hv, (hh + hv) / 2], axis=1).astype(np.float32)  # [n, 3, 5625]
    if preprocessing == "corrected":
        x = channels.reshape(n, 3, IMAGE_SIDE, IMAGE_SIDE).transpose(0, 2, 3, 1)
    else:
        x = r_aperm(r_array(channels, (IMAGE_SIDE, IMAGE_SIDE, 3, n)), (4, 1, 2, 3))
    return np.ascontiguousarray(x), y


def default_n_train(n: int) -> int:
    """The report's 1300 of 1604 for ``n`` records, within ``1 .. n - 1`` (both sets non-empty)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    n_train = int(round(n * settings.R_N_TRAIN / settings.R_N_RECORDS))
    return max(min(n_train, n - 1), 1)


def report_split(n: int, seed: int = 1, kind: str = "Rounding") -> tuple[np.ndarray, np.ndarray]:
    """:func:`split_indices` in the report's proportion; DataError under 2 records."""
    if n < 2:
        raise DataError(f"the data hold {n} record{'s' if n != 1 else ''}: the report's "
                        "train/test split needs at least 2 (one to train on, one to test on); "
                        "Kaggle's train.json has 1604")  # fmt: skip
    return split_indices(n, default_n_train(n), seed=seed, kind=kind)


def split_indices(
    n: int, n_train: int = settings.R_N_TRAIN, seed: int = 1, kind: str = "Rounding"
) -> tuple[np.ndarray, np.ndarray]:
    """``set.seed(seed); nums <- sample(1:n, n_train)``: 0-based ``x[nums]`` (in R's draw order)
    and ``x[-nums]`` (increasing), int64. ``kind`` is R's ``sample.kind``."""
    n, n_train = int(n), int(n_train)
    if n < 1:
        raise ValueError(f"cannot split {n} records")
    if not 1 <= n_train <= n:
        raise ValueError(f"cannot draw {n_train} training records from {n}: n_train must lie in 1 "
                         f".. {n} (for data smaller than the report's use default_n_train({n}) = "
                         f"{default_n_train(n)})")  # fmt: skip
    train_idx = r_sample(n, n_train, seed, kind) - 1
    return train_idx, np.setdiff1d(np.arange(n, dtype=np.int64), train_idx)


def scale_dense(
    x_train: np.ndarray, x_test: np.ndarray, preprocessing: str = "r"
) -> tuple[np.ndarray, np.ndarray]:
    """The dense script's scaling (``## Need to scale data``) in float64 as R's, as float32. Under
    ``"r"`` and ``"r-scaling-only"`` the test images are divided by ``max(abs(train_iceberg))`` of
    the already scaled training set, 1, and stay in dB; the other modes divide both alike. Where
    R would silently give NaN or Inf (``max(abs())`` 0 or not finite) this raises DataError."""
    _check_mode(preprocessing, settings.DENSE_PREPROCESSINGS)
    if (train := np.asarray(x_train, dtype=np.float64)).size == 0:
        raise DataError("cannot scale an empty training set")
    train_max = float(np.max(np.abs(train)))
    if not math.isfinite(train_max) or train_max == 0.0:
        raise DataError(f"cannot scale by the training images' largest absolute value {train_max}")
    train, buggy = train / train_max, preprocessing in ("r", "r-scaling-only")
    test = np.asarray(x_test, dtype=np.float64) / (np.max(np.abs(train)) if buggy else train_max)
    return train.astype(np.float32), test.astype(np.float32)
