"""The report's two pipelines, element by element against what real R builds.

tests/fixtures/r/make_fixtures.R writes a 6-record data set whose band values
encode their origin (record k, band, row-major pixel p: band_1 = -(k*1e5 + p),
band_2 = -(k*1e5 + 1e4 + p)) and runs the report's own lines on it, with the
array dimensions adapted to 6 records and a 4/2 split drawn with
set.seed(1, sample.kind = "Rounding").
"""

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reproduce.errors import DataError
from reproduce.preprocess import (
    default_n_train,
    dense_inputs,
    resnet_inputs,
    scale_dense,
    split_indices,
)

FIXTURES = Path(__file__).parent / "fixtures" / "r"


def _frame(records):
    """A DataFrame in the loader's schema, built directly from parsed records."""
    return pd.DataFrame(
        {
            "id": [r["id"] for r in records],
            "band_1": [np.asarray(r["band_1"], dtype=np.float64) for r in records],
            "band_2": [np.asarray(r["band_2"], dtype=np.float64) for r in records],
            "inc_angle": [
                np.nan if r["inc_angle"] == "na" else float(r["inc_angle"]) for r in records
            ],
            "is_iceberg": [int(r["is_iceberg"]) for r in records],
        }
    )


@pytest.fixture(scope="module")
def data():
    with gzip.open(FIXTURES / "pipeline_train.json.gz", "rt") as handle:
        return _frame(json.load(handle))


@pytest.fixture(scope="module")
def r_out():
    with gzip.open(FIXTURES / "pipeline.json.gz", "rt") as handle:
        return json.load(handle)


def _r_array(values, dim):
    """Read back an array R listed with as.vector() (column-major)."""
    return np.asarray(values, dtype=np.float64).reshape(dim, order="F")


def _band_image(data, record, column):
    """Row-major 75x75 image of a 1-based record, as the data means it."""
    return np.asarray(data[column].iloc[record - 1]).reshape(75, 75)


def test_fixture_names_r_version(r_out):
    assert r_out["r_version"].startswith("R version ")
    assert r_out["n_records"] == 6


# ---- dense network (7.1.2) ---------------------------------------------------


def test_dense_faithful_matches_r_element_by_element(data, r_out):
    x, y = dense_inputs(data, "r")
    dense = r_out["dense"]
    assert x.shape == tuple(dense["x_dim"]) == (6, 75, 75)
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, _r_array(dense["x"], dense["x_dim"]))
    for probe in dense["probes"]:  # values R read with its own x[k, i, j]
        assert x[tuple(i - 1 for i in probe["index"])] == probe["value"]
    # y[, 2] of classvec2classmat is the label of each record.
    r_y = _r_array(dense["y"], dense["y_dim"])
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, r_y[:, 1])
    np.testing.assert_array_equal(y, data["is_iceberg"].to_numpy())


def test_dense_faithful_truncates_to_the_first_half_of_the_records(data):
    x, y = dense_inputs(data, "r")
    for k in range(1, 7):  # 1-based slice index, as in R
        if k % 2:
            source = _band_image(data, (k + 1) // 2, "band_1")
        else:
            source = _band_image(data, k // 2, "band_2")
        # Column-major fill: x[k, i, j] is row j, column i of the band.
        np.testing.assert_array_equal(x[k - 1], source.T)
    # Records 4..6 never reach the array: their values (-4e5 and below) are absent.
    assert x.min() > -400000
    # Labels stay one per record: label k is record k's, not its image's.
    np.testing.assert_array_equal(y, data["is_iceberg"].to_numpy())


def test_dense_faithful_with_an_odd_number_of_records(data):
    x, _ = dense_inputs(data.iloc[:5], "r")
    assert x.shape == (5, 75, 75)
    # Slice 5 is band_1 of record 3; band_2 of record 3 is cut off.
    np.testing.assert_array_equal(x[4], _band_image(data, 3, "band_1").T)
    assert not np.isin(_band_image(data, 3, "band_2"), x).any()


def test_dense_corrected_is_band_1_per_record_with_its_label(data):
    x, y = dense_inputs(data, "corrected")
    assert x.shape == (6, 75, 75) and x.dtype == np.float32
    for k in range(1, 7):
        np.testing.assert_array_equal(x[k - 1], _band_image(data, k, "band_1"))
    # Pixel p (row-major, 1-based) of record k is -(k*1e5 + p).
    assert x[2, 0, 1] == -(3 * 100000 + 2)
    np.testing.assert_array_equal(y, data["is_iceberg"].to_numpy())


def test_split_matches_r(r_out):
    dense = r_out["dense"]
    train_idx, test_idx = split_indices(6, n_train=r_out["n_train"], seed=1, kind="Rounding")
    np.testing.assert_array_equal(train_idx, np.array(dense["nums"]) - 1)
    # x[-nums] keeps the remaining records in increasing order.
    expected_test = [k for k in range(6) if k + 1 not in dense["nums"]]
    np.testing.assert_array_equal(test_idx, expected_test)
    assert train_idx.dtype == test_idx.dtype == np.int64


def test_faithful_split_labels_match_r(data, r_out):
    dense = r_out["dense"]
    _, y = dense_inputs(data, "r")
    train_idx, test_idx = split_indices(6, n_train=r_out["n_train"])
    np.testing.assert_array_equal(y[train_idx], dense["train_truth"])
    np.testing.assert_array_equal(y[test_idx], dense["test_truth"])


def test_dense_scaling_bug_matches_r(data, r_out):
    scale = r_out["dense"]["scale"]
    x, _ = dense_inputs(data, "r")
    train_idx, test_idx = split_indices(6, n_train=r_out["n_train"])
    train, test = scale_dense(x[train_idx], x[test_idx], "r")
    assert train.dtype == test.dtype == np.float32
    raw_max = float(scale["raw_train_max"])
    assert float(np.max(np.abs(x[train_idx]))) == raw_max
    assert float(scale["test_divisor"]) == 1.0
    # The test images stay in dB: exactly R's unscaled values.
    np.testing.assert_array_equal(test, _r_array(scale["test_scaled"], scale["test_scaled_dim"]))
    # Training images: R's doubles, as Keras receives them (float32).
    r_slice = np.array([float(v) for v in scale["train_scaled_slice"]]).reshape((75, 5), order="F")
    np.testing.assert_array_equal(train[0, :, :5], r_slice.astype(np.float32))
    assert float(np.sum(train, dtype=np.float64)) == pytest.approx(
        float(scale["train_scaled_sum"]), rel=1e-6
    )
    assert np.max(np.abs(train)) == 1.0


def test_dense_scaling_corrected_uses_one_statistic(data):
    x, _ = dense_inputs(data, "corrected")
    train_idx, test_idx = split_indices(6, n_train=4)
    train, test = scale_dense(x[train_idx], x[test_idx], "corrected")
    assert np.max(np.abs(train)) == 1.0
    # Both sets divided by the same constant: the ratio scaled/raw is equal.
    ratio_train = train / x[train_idx]
    ratio_test = test / x[test_idx]
    np.testing.assert_allclose(ratio_test, ratio_train[0, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(ratio_train, ratio_train[0, 0, 0], rtol=1e-6)


def test_each_of_the_dense_scripts_two_bugs_on_its_own(data):
    """r-array-only keeps R's array() and scales correctly; r-scaling-only the reverse."""
    x_r, y_r = dense_inputs(data, "r")
    x_c, y_c = dense_inputs(data, "corrected")
    x_a, y_a = dense_inputs(data, "r-array-only")
    x_s, y_s = dense_inputs(data, "r-scaling-only")
    np.testing.assert_array_equal(x_a, x_r)
    np.testing.assert_array_equal(x_s, x_c)
    assert not np.array_equal(x_r, x_c)  # the two image sets differ, or this proves nothing
    for y in (y_c, y_a, y_s):
        np.testing.assert_array_equal(y, y_r)
    train_idx, test_idx = split_indices(6, n_train=4)
    for images in (x_r, x_c):
        train, test = images[train_idx], images[test_idx]
        buggy = scale_dense(train, test, "r")
        right = scale_dense(train, test, "corrected")
        np.testing.assert_array_equal(scale_dense(train, test, "r-scaling-only")[1], buggy[1])
        np.testing.assert_array_equal(scale_dense(train, test, "r-array-only")[1], right[1])
        np.testing.assert_array_equal(test.astype(np.float32), buggy[1])  # divided by 1
        assert not np.array_equal(buggy[1], right[1])


def test_single_bug_modes_are_the_dense_scripts_only(data):
    from reproduce.engine import RunConfig

    with pytest.raises(ValueError, match="preprocessing must be one of"):
        resnet_inputs(data, "r-array-only")
    with pytest.raises(ValueError, match="resnet model must be one of"):
        RunConfig("resnet", preprocessing="r-scaling-only")
    assert RunConfig("dense", preprocessing="r-scaling-only").preprocessing == "r-scaling-only"


def test_scale_dense_refuses_an_all_zero_training_set():
    with pytest.raises(DataError, match="largest absolute value"):
        scale_dense(np.zeros((2, 3, 3)), np.ones((1, 3, 3)), "r")
    with pytest.raises(DataError, match="empty"):
        scale_dense(np.zeros((0, 3, 3)), np.ones((1, 3, 3)), "corrected")


# ---- residual CNN (7.2.2) ----------------------------------------------------


def _weighted_sums(image):
    """sum(v), sum(i v), sum(j v), sum(i j v) with R's 1-based i, j; exact."""
    v = image.astype(np.int64)
    i = np.arange(1, 76, dtype=np.int64)[:, None]
    j = np.arange(1, 76, dtype=np.int64)[None, :]
    return [int(v.sum()), int((i * v).sum()), int((j * v).sum()), int((i * j * v).sum())]


def test_resnet_faithful_matches_r_element_by_element(data, r_out):
    x, y = resnet_inputs(data, "r")
    resnet = r_out["resnet"]
    assert x.shape == tuple(resnet["x_dim"]) == (6, 75, 75, 3)
    assert x.dtype == np.float32
    records = np.array(resnet["full_records"]) - 1
    expected = _r_array(resnet["x_full_records"], [len(records), 75, 75, 3])
    np.testing.assert_array_equal(x[records], expected)
    for entry in resnet["checksums"]:
        image = x[entry["record"] - 1, :, :, entry["channel"] - 1]
        assert _weighted_sums(image) == entry["sums"], entry
    for probe in resnet["probes"]:
        assert x[tuple(i - 1 for i in probe["index"])] == probe["value"]
    assert y.shape == (6, 2) and y.dtype == np.float32
    np.testing.assert_array_equal(y, _r_array(resnet["y"], resnet["y_dim"]))


def test_resnet_faithful_split_matches_r(data, r_out):
    resnet = r_out["resnet"]
    x, y = resnet_inputs(data, "r")
    train_idx, test_idx = split_indices(6, n_train=r_out["n_train"])
    n_train, n_test = len(train_idx), len(test_idx)
    np.testing.assert_array_equal(
        x[train_idx, 0, 0, :], _r_array(resnet["train_first_pixels"], [n_train, 3])
    )
    np.testing.assert_array_equal(
        x[test_idx, 0, 0, :], _r_array(resnet["test_first_pixels"], [n_test, 3])
    )
    np.testing.assert_array_equal(y[train_idx], _r_array(resnet["train_truth"], [n_train, 2]))
    np.testing.assert_array_equal(y[test_idx], _r_array(resnet["test_truth"], [n_test, 2]))


def test_resnet_corrected_is_the_faithful_array_untransposed(data):
    faithful, y_faithful = resnet_inputs(data, "r")
    corrected, y = resnet_inputs(data, "corrected")
    assert corrected.shape == (6, 75, 75, 3) and corrected.dtype == np.float32
    np.testing.assert_array_equal(corrected, faithful.transpose(0, 2, 1, 3))
    for k in range(1, 7):
        np.testing.assert_array_equal(corrected[k - 1, :, :, 0], _band_image(data, k, "band_1"))
        np.testing.assert_array_equal(corrected[k - 1, :, :, 1], _band_image(data, k, "band_2"))
    # Row-major pixel p of record k: mean channel is -(k*1e5 + 5000 + p).
    assert corrected[1, 0, 2, 2] == -(2 * 100000 + 5000 + 3)
    np.testing.assert_array_equal(y, y_faithful)
    np.testing.assert_array_equal(y[:, 1], data["is_iceberg"].to_numpy())
    np.testing.assert_array_equal(y.sum(axis=1), 1.0)


def test_mean_channel_rounds_like_r():
    with open(FIXTURES / "array.json") as handle:
        rowmean = json.load(handle)["rowmean"]
    hh, hv, mean = (np.array([float(v) for v in rowmean[k]]) for k in ("band_1", "band_2", "mean"))
    frame = pd.DataFrame(
        {"band_1": [np.resize(hh, 5625)], "band_2": [np.resize(hv, 5625)], "is_iceberg": [1]}
    )
    for mode in ("r", "corrected"):
        x, _ = resnet_inputs(frame, mode)
        channel = x[0, :, :, 2].T if mode == "r" else x[0, :, :, 2]
        np.testing.assert_array_equal(channel.reshape(-1)[: len(mean)], mean.astype(np.float32))


# ---- sizes and errors ----------------------------------------------------------


def test_default_n_train():
    assert default_n_train(1604) == 1300
    assert default_n_train(200) == round(200 * 1300 / 1604)
    assert default_n_train(2) == 1
    assert default_n_train(1) == 1
    for n in range(2, 60):
        assert 1 <= default_n_train(n) <= n - 1


def test_split_refuses_more_training_records_than_data():
    with pytest.raises(ValueError, match=r"default_n_train\(100\) = 81"):
        split_indices(100)


def test_split_of_the_report_has_1300_and_304_records():
    train_idx, test_idx = split_indices(1604)
    assert len(train_idx) == 1300 and len(test_idx) == 304
    np.testing.assert_array_equal(np.sort(np.concatenate([train_idx, test_idx])), np.arange(1604))


def test_bad_inputs_get_clear_errors(data):
    # The loader checks records (tests/test_data.py); here only what preprocessing adds.
    with pytest.raises(DataError, match="no records"):
        resnet_inputs(data.iloc[:0])
    with pytest.raises(ValueError, match="preprocessing"):
        dense_inputs(data, "fixed")
