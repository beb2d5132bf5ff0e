"""The arrays the report's two R scripts feed to Keras, faithful or corrected.

Two modes, chosen with ``preprocessing``:

``"r"``
    Exactly what the report's R code builds (appendix 7.1.2, dense network;
    7.2.2, residual CNN), with R's column-major ``array()``, its silent
    truncation, ``aperm``, ``set.seed(1); sample(1:1604, 1300)`` and the dense
    script's scaling bug. Checked element by element against real R in
    tests/test_preprocess.py.

``"corrected"``
    What the author meant: one image per record, labels aligned with their
    images, images in the row-major orientation of the data, and train and test
    images scaled by the same statistic.

Every function takes the DataFrame of ``reproduce.data.load_train_json``
(columns ``band_1``, ``band_2``: 5625 numbers each, a 75x75 image flattened row
by row; ``is_iceberg``: 0 or 1) and returns NumPy arrays ready for Keras:
images as float32, dense labels as int64 0/1, residual labels as float32
one-hot.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from reproduce import settings
from reproduce.errors import DataError
from reproduce.rcompat import r_aperm, r_array, r_sample

__all__ = [
    "PREPROCESSING_MODES",
    "DENSE_PREPROCESSING_MODES",
    "IMAGE_SIDE",
    "dense_inputs",
    "resnet_inputs",
    "split_indices",
    "report_split",
    "MIN_RECORDS",
    "default_n_train",
    "scale_dense",
]

PREPROCESSING_MODES = settings.PREPROCESSINGS
#: The dense network's modes: both bugs ("r"), one of them, or neither ("corrected").
DENSE_PREPROCESSING_MODES = settings.DENSE_PREPROCESSINGS
# Which of the dense script's two bugs each mode keeps.
_ARRAY_BUG = ("r", "r-array-only")
_SCALING_BUG = ("r", "r-scaling-only")
IMAGE_SIDE = 75
_PIXELS = IMAGE_SIDE * IMAGE_SIDE


def _check_mode(preprocessing: str, modes=PREPROCESSING_MODES) -> str:
    if preprocessing not in modes:
        raise ValueError(f"preprocessing must be one of {modes}, got {preprocessing!r}")
    return preprocessing


def _check_frame(df: pd.DataFrame) -> None:
    missing = [c for c in ("band_1", "band_2", "is_iceberg") if c not in df.columns]
    if missing:
        raise DataError(f"the data has no column(s) {', '.join(missing)}")
    if len(df) == 0:
        raise DataError("the data has no records")


def _band(df: pd.DataFrame, position: int, column: str) -> np.ndarray:
    """One band of one record as a float64 vector of 5625 values (R's doubles)."""
    band = np.asarray(df[column].iloc[position], dtype=np.float64).reshape(-1)
    if band.size != _PIXELS:
        record_id = df["id"].iloc[position] if "id" in df.columns else "?"
        raise DataError(
            f"record {position} (id {record_id}): field {column} has {band.size} values, "
            f"expected {_PIXELS} (75x75)"
        )
    return band


def _labels(df: pd.DataFrame) -> np.ndarray:
    labels = np.asarray(df["is_iceberg"])
    bad = ~np.isin(labels, (0, 1))
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"record {position}: field is_iceberg is {labels[position]!r}, expected 0 or 1"
        )
    return labels.astype(np.int64)


def dense_inputs(df: pd.DataFrame, preprocessing: str = "r") -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of the dense network (appendix 7.1.2), before the split.

    ``"r"`` reproduces::

        x <- train %>% lapply(function(x){c(x$band_1, x$band_2)}) %>% unlist %>%
             array(dim=c(75,75,1604)) %>% aperm(c(3,1,2))

    with ``1604`` replaced by the number of records ``n``. Each record supplies
    two images (11250 values) to an array that holds ``n`` images, so R keeps
    the first half of the values and drops the rest without a warning: image
    ``k`` (1-based) is ``band_1`` of record ``(k+1)/2`` for odd ``k`` and
    ``band_2`` of record ``k/2`` for even ``k``; records past ``ceil(n/2)``
    never reach the array. The labels stay one per record, so label ``k``
    belongs to record ``k`` and no longer to image ``k``. The column-major fill
    also transposes every image (``x[k, i, j]`` is row ``j``, column ``i`` of
    the band).

    ``"r-array-only"`` builds the same array; ``"r-scaling-only"`` and
    ``"corrected"`` take ``band_1`` (HH polarisation) of every record, in the
    data's row-major orientation, with its own label. The dense network sees a
    single 75x75 image per record; HH is the band the faithful array starts
    with, and as the co-polarised band it is the stronger of the two.

    Args:
        df: records with columns ``band_1``, ``band_2``, ``is_iceberg``.
        preprocessing: one of :data:`DENSE_PREPROCESSING_MODES`.

    Returns:
        ``(x, y)``: ``x`` float32 of shape ``[n, 75, 75]``; ``y`` int64 0/1 of
        shape ``[n]``, record ``k``'s ``is_iceberg`` at position ``k`` (in
        both modes: R's ``y[, 2]`` of ``classvec2classmat`` is that label).

    Raises:
        DataError: a missing column, no records, a band that is not 5625
            values, a label that is not 0 or 1.
    """
    _check_mode(preprocessing, DENSE_PREPROCESSING_MODES)
    _check_frame(df)
    n = len(df)
    y = _labels(df)
    if preprocessing not in _ARRAY_BUG:
        x = np.stack([_band(df, k, "band_1") for k in range(n)])
        return x.reshape(n, IMAGE_SIDE, IMAGE_SIDE).astype(np.float32), y
    # array() keeps the first 75*75*n values, i.e. the first n bands, which
    # come from the first ceil(n/2) records: reading the others would change
    # nothing but the memory used.
    reaching = math.ceil(n / 2)
    values = np.concatenate(
        [np.concatenate((_band(df, k, "band_1"), _band(df, k, "band_2"))) for k in range(reaching)]
    )
    x = r_aperm(r_array(values, (IMAGE_SIDE, IMAGE_SIDE, n)), (3, 1, 2))
    return np.ascontiguousarray(x, dtype=np.float32), y


def resnet_inputs(df: pd.DataFrame, preprocessing: str = "r") -> tuple[np.ndarray, np.ndarray]:
    """Images and one-hot labels of the residual CNN (appendix 7.2.2), before the split.

    ``"r"`` reproduces::

        x = train %>% lapply(function(x){
              c(x$band_1, x$band_2, apply(cbind(x$band_1,x$band_2), 1, mean))}) %>%
            unlist %>% array(dim=c(75,75,3,1604)) %>% aperm(c(4,1,2,3))
        y <- classvec2classmat(unlist(lapply(train, function(x) {x$is_iceberg})))

    with ``1604`` replaced by the number of records. Here the sizes agree: each
    record gives one image with channels HH, HV and their pixel-wise mean, and
    labels match images. The column-major fill transposes every image
    (``x[k, i, j, c]`` is row ``j``, column ``i`` of channel ``c``).

    ``"corrected"`` has the same channels and labels in the data's row-major
    orientation (``x[k, r, c, ch]`` is row ``r``, column ``c``). The only
    difference is that transposition, applied alike to every image and
    channel; a CNN learns a transposed data set as well as the original (its
    kernels simply transpose too), so it is harmless, and the corrected mode
    only removes it so that images look as they should when plotted.

    Args:
        df: records with columns ``band_1``, ``band_2``, ``is_iceberg``.
        preprocessing: ``"r"`` or ``"corrected"``.

    Returns:
        ``(x, y)``: ``x`` float32 of shape ``[n, 75, 75, 3]``; ``y`` float32
        one-hot of shape ``[n, 2]``, column 0 for class 0 (ship) and column 1
        for class 1 (iceberg), as ``classvec2classmat`` orders them. (On data
        holding a single class R would return one column and the script's
        ``y[nums, 2]`` would fail; this function always returns two.)

    Raises:
        DataError: as for :func:`dense_inputs`.
    """
    _check_mode(preprocessing)
    _check_frame(df)
    n = len(df)
    labels = _labels(df)
    y = np.stack([1 - labels, labels], axis=1).astype(np.float32)
    if preprocessing == "corrected":
        channels = np.empty((n, 3, _PIXELS), dtype=np.float32)
        for k in range(n):
            channels[k] = _three_channels(df, k).reshape(3, _PIXELS)
        x = channels.reshape(n, 3, IMAGE_SIDE, IMAGE_SIDE).transpose(0, 2, 3, 1)
        return np.ascontiguousarray(x), y
    values = np.concatenate([_three_channels(df, k) for k in range(n)])
    x = r_aperm(r_array(values, (IMAGE_SIDE, IMAGE_SIDE, 3, n)), (4, 1, 2, 3))
    return np.ascontiguousarray(x, dtype=np.float32), y


def _three_channels(df: pd.DataFrame, position: int) -> np.ndarray:
    """``c(band_1, band_2, mean of the two)`` of one record, as float32.

    The mean is taken in float64 as R does; R's ``mean`` of two doubles (summed
    in long double) and ``(a + b) / 2`` round to the same double.
    """
    hh = _band(df, position, "band_1")
    hv = _band(df, position, "band_2")
    return np.concatenate((hh, hv, (hh + hv) / 2)).astype(np.float32)


def default_n_train(n: int) -> int:
    """Training-set size for ``n`` records in the report's proportion, 1300 of 1604.

    ``round(n * 1300 / 1604)``, kept within ``1 .. n - 1`` when ``n >= 2`` so
    that both sets are non-empty; 1300 for the real data.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    n_train = int(round(n * settings.R_N_TRAIN / settings.R_N_RECORDS))
    if n >= 2:
        n_train = min(max(n_train, 1), n - 1)
    return max(n_train, 1)


#: The fewest records the report's split can use: one to train on, one to test on.
MIN_RECORDS = 2


def report_split(n: int, seed: int = 1, kind: str = "Rounding") -> tuple[np.ndarray, np.ndarray]:
    """The R scripts' ``nums <- sample(1:1604, 1300)`` for ``n`` records: train and test indices.

    :func:`split_indices` with the report's proportion (:func:`default_n_train`).

    Raises:
        DataError: fewer than :data:`MIN_RECORDS` records (a test set would be empty).
    """
    if n < MIN_RECORDS:
        raise DataError(
            f"the data hold {n} record{'s' if n != 1 else ''}: the report's train/test split "
            f"needs at least {MIN_RECORDS} (one to train on, one to test on); "
            "Kaggle's train.json has 1604"
        )
    return split_indices(n, default_n_train(n), seed=seed, kind=kind)


def split_indices(
    n: int, n_train: int = settings.R_N_TRAIN, seed: int = 1, kind: str = "Rounding"
) -> tuple[np.ndarray, np.ndarray]:
    """The report's train/test split: ``set.seed(seed); nums <- sample(1:n, n_train)``.

    The training set is ``x[nums, , ]`` (R's order of the draws) and the test
    set ``x[-nums, , ]`` (the other records, in increasing order). The same
    split serves both preprocessing modes: it is not a bug. Note that the
    residual script sets no seed of its own; callers choose one.

    Args:
        n: number of records.
        n_train: size of the training set; for data smaller than the report's,
            pass :func:`default_n_train` ``(n)``.
        seed: the integer given to ``set.seed`` (the dense script uses 1).
        kind: R's ``sample.kind``: ``"Rounding"`` (the report's R 3.5) or
            ``"Rejection"`` (R >= 3.6).

    Returns:
        ``(train_idx, test_idx)``: 0-based int64 index arrays.

    Raises:
        ValueError: ``n_train`` is not within ``1 .. n``.
    """
    n = int(n)
    n_train = int(n_train)
    if n < 1:
        raise ValueError(f"cannot split {n} records")
    if not 1 <= n_train <= n:
        raise ValueError(
            f"cannot draw {n_train} training records from {n}: n_train must lie in 1 .. {n} "
            f"(for data smaller than the report's use default_n_train({n}) = {default_n_train(n)})"
        )
    train_idx = r_sample(n, n_train, seed, kind) - 1
    in_train = np.zeros(n, dtype=bool)
    in_train[train_idx] = True
    return train_idx, np.flatnonzero(~in_train).astype(np.int64)


def scale_dense(
    x_train: np.ndarray, x_test: np.ndarray, preprocessing: str = "r"
) -> tuple[np.ndarray, np.ndarray]:
    """Scale the dense network's images as the report does, or as it meant to.

    ``"r"`` reproduces the two lines::

        train_iceberg <- train_iceberg/max(abs(train_iceberg))
        test_iceberg <- test_iceberg/max(abs(train_iceberg))

    The second line reads the already scaled training set, whose largest
    absolute value is 1: the test images are divided by 1 and stay in dB while
    the training images lie in [-1, 1].

    ``"r-scaling-only"`` does the same; ``"r-array-only"`` and ``"corrected"``
    divide both sets by ``max(abs(x_train))`` of the unscaled training images.

    The arithmetic is done in float64, like R's, and the results returned as
    float32.

    Args:
        x_train: training images, any shape.
        x_test: test images, any shape.
        preprocessing: one of :data:`DENSE_PREPROCESSING_MODES`.

    Returns:
        ``(x_train_scaled, x_test_scaled)`` as float32 arrays.

    Raises:
        DataError: the training set is empty, or its largest absolute value is
            0 or not finite (R would silently produce NaN or Inf).
    """
    _check_mode(preprocessing, DENSE_PREPROCESSING_MODES)
    train = np.asarray(x_train, dtype=np.float64)
    test = np.asarray(x_test, dtype=np.float64)
    if train.size == 0:
        raise DataError("cannot scale an empty training set")
    train_max = float(np.max(np.abs(train)))
    if not math.isfinite(train_max) or train_max == 0.0:
        raise DataError(f"cannot scale by the training images' largest absolute value {train_max}")
    scaled_train = train / train_max
    if preprocessing in _SCALING_BUG:
        test_divisor = float(np.max(np.abs(scaled_train)))  # 1, by construction
    else:
        test_divisor = train_max
    return scaled_train.astype(np.float32), (test / test_divisor).astype(np.float32)
