"""The generated stand-in: Kaggle's schema, determinism, realistic levels, SAR-like classes."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from reproduce.data.synthetic import synthetic_arrays, synthetic_train


@pytest.fixture(scope="module")
def full():
    """The stand-in every run uses when no real file is found (n=1604, seed=0)."""
    return synthetic_arrays(1604, 0)


def test_records_follow_kaggle_schema_exactly():
    records = synthetic_train(20, seed=3)
    assert isinstance(records, list) and len(records) == 20
    for record in records:
        assert list(record) == ["id", "band_1", "band_2", "inc_angle", "is_iceberg"]
        assert re.fullmatch(r"[0-9a-f]{8}", record["id"])
        for band in ("band_1", "band_2"):
            assert type(record[band]) is list and len(record[band]) == 5625
            assert all(type(v) is float for v in record[band])
        assert record["inc_angle"] == "na" or type(record["inc_angle"]) is float
        assert type(record["is_iceberg"]) is int and record["is_iceberg"] in (0, 1)
    assert len({r["id"] for r in records}) == 20
    # JSON round trip gives the very same values (they are stored rounded).
    assert json.loads(json.dumps(records)) == records


def test_deterministic_given_n_and_seed():
    assert synthetic_train(6, seed=11) == synthetic_train(6, seed=11)
    assert synthetic_train(6, seed=11) != synthetic_train(6, seed=12)
    one = synthetic_train(1, seed=0)
    assert len(one) == 1


def test_arrays_are_the_records():
    records = synthetic_train(7, seed=2)
    arrays = synthetic_arrays(7, seed=2)
    assert arrays["id"] == [r["id"] for r in records]
    assert arrays["band_1"].tolist() == [r["band_1"] for r in records]
    assert arrays["band_2"].tolist() == [r["band_2"] for r in records]
    angles = [np.nan if r["inc_angle"] == "na" else r["inc_angle"] for r in records]
    np.testing.assert_array_equal(arrays["inc_angle"], angles)
    assert arrays["is_iceberg"].tolist() == [r["is_iceberg"] for r in records]


@pytest.mark.parametrize("n", [0, -3, 2.5, True])
def test_bad_n(n):
    with pytest.raises(ValueError, match="positive integer"):
        synthetic_train(n)


def test_values_are_stored_like_kaggle(full):
    for band in (full["band_1"], full["band_2"]):
        assert np.array_equal(np.round(band, 4), band)
        assert not np.any((band == 0) & np.signbit(band))
    angles = full["inc_angle"][~np.isnan(full["inc_angle"])]
    assert np.array_equal(np.round(angles, 4), angles)


def test_class_share_angles_and_na(full):
    share = full["is_iceberg"].mean()
    assert 0.42 <= share <= 0.52
    angles = full["inc_angle"]
    na_share = np.isnan(angles).mean()
    assert 0.05 <= na_share <= 0.12  # real file: 133 / 1604 = 8.3%
    known = angles[~np.isnan(angles)]
    assert known.min() >= 30.0 and known.max() <= 46.0
    assert known.max() - known.min() > 12.0  # spans the range, not a point
    assert len(set(full["id"])) == 1604


def test_levels_in_db_match_the_real_bands(full):
    hh, hv = full["band_1"], full["band_2"]
    # Real file: HH mean about -20 dB, range about -45..+35; HV about -26 dB, -45..+20.
    assert -22.0 < hh.mean() < -18.0
    assert -28.0 < hv.mean() < -24.0
    assert hh.min() >= -45.6 and hh.max() <= 35.0
    assert hv.min() >= -45.6 and hv.max() <= 20.0


def test_clutter_has_few_look_speckle(full):
    """The dB spread of sea pixels is that of gamma speckle with 3 to 5 looks.

    For intensity ~ Gamma(L, 1/L), 10 log10(intensity) has standard
    deviation (10 / ln 10) sqrt(trigamma(L)) -- 2.73 dB for L=3, 2.04 dB
    for L=5 -- and a long dark tail (negative skew).
    """
    from scipy.special import polygamma
    from scipy.stats import skew

    border = full["band_1"].reshape(-1, 75, 75)[:, :8, :].reshape(1604, -1)
    spread = np.median(border.std(axis=1))
    low = 10 / np.log(10) * np.sqrt(polygamma(1, 5))
    high = 10 / np.log(10) * np.sqrt(polygamma(1, 3))
    assert low - 0.1 < spread < high + 0.5  # the swell texture adds a little
    assert np.median(skew(border, axis=1)) < -0.3


def _border_median(band: np.ndarray) -> np.ndarray:
    images = band.reshape(-1, 75, 75)
    border = np.concatenate(
        [images[:, :8, :].reshape(len(images), -1), images[:, -8:, :].reshape(len(images), -1)],
        axis=1,
    )
    return np.median(border, axis=1)


def test_clutter_darkens_with_angle(full):
    known = ~np.isnan(full["inc_angle"])
    slope_hh = np.polyfit(full["inc_angle"][known], _border_median(full["band_1"])[known], 1)[0]
    slope_hv = np.polyfit(full["inc_angle"][known], _border_median(full["band_2"])[known], 1)[0]
    assert -0.6 < slope_hh < -0.2  # dB per degree
    assert slope_hh < slope_hv < 0.0


def _target_features(full) -> dict:
    """Per image: peak HH, elongation of the bright region, mean HV-HH inside it."""
    hh = full["band_1"].reshape(-1, 75, 75)
    hv = full["band_2"].reshape(-1, 75, 75)
    level = _border_median(full["band_1"])[:, None, None]
    window = (slice(None), slice(15, 60), slice(15, 60))
    bright = hh[window] > level + 6.0
    ys, xs = np.mgrid[15:60, 15:60]
    elongation, xpol = [], []
    for mask, hh_image, hv_image in zip(bright, hh[window], hv[window]):
        if mask.sum() < 3:
            elongation.append(1.0)
            xpol.append(np.nan)
            continue
        coordinates = np.stack([ys[mask], xs[mask]]).astype(float)
        eigenvalues = np.linalg.eigvalsh(np.cov(coordinates))
        elongation.append(np.sqrt(eigenvalues[1] / max(eigenvalues[0], 1e-3)))
        xpol.append(np.mean(hv_image[mask] - hh_image[mask]))
    return {
        "peak": hh.reshape(len(hh), -1).max(axis=1),
        "elongation": np.array(elongation),
        "xpol": np.array(xpol),
    }


def test_ships_and_icebergs_differ_as_in_sar(full):
    features = _target_features(full)
    ship = full["is_iceberg"] == 0
    berg = ~ship
    # Ships are brighter (point scatterers), more elongated, with a more variable cross-pol ratio.
    assert np.median(features["peak"][ship]) > np.median(features["peak"][berg]) + 2.0
    assert np.median(features["elongation"][ship]) > np.median(features["elongation"][berg]) + 0.3
    assert np.nanstd(features["xpol"][ship]) > 1.3 * np.nanstd(features["xpol"][berg])
    # ... but the classes overlap: no single feature separates them.
    for name in ("peak", "elongation"):
        values = features[name]
        threshold = np.median(values)
        accuracy = max(np.mean((values > threshold) == ship), np.mean((values > threshold) == berg))
        assert accuracy < 0.9, name


@pytest.mark.slow
def test_cnn_clearly_beats_dense_and_neither_is_perfect(full):
    """Learnable but not trivial (about 2 minutes on 2 CPU cores)."""
    accuracies = measure_learnability(full, epochs=15)
    print(accuracies)
    assert accuracies["cnn"] > accuracies["dense"] + 0.1
    assert accuracies["dense"] < 0.99 and accuracies["cnn"] < 0.99


def measure_learnability(arrays: dict, epochs: int = 15, seed: int = 1) -> dict:
    """Test accuracy of the report's dense network and of a small CNN.

    Split 1300/304 at random; dense: HH scaled by the training set's max |x|,
    flatten, 4 x Dense(128, relu), sigmoid, SGD lr 0.01 (R keras' 'sgd');
    CNN: HH, HV and their mean, batch norm, three 3x3 conv + max-pool
    stages, global max-pool, Dense(32), sigmoid, Adam lr 0.001. Batch 32.
    """
    from reproduce._quiet import quiet_tensorflow

    quiet_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    n = len(arrays["is_iceberg"])
    labels = arrays["is_iceberg"].astype("float32")
    order = np.random.default_rng(seed).permutation(n)
    train, test = order[:1300], order[1300:]
    hh = arrays["band_1"].reshape(n, 75, 75).astype("float32")
    hv = arrays["band_2"].reshape(n, 75, 75).astype("float32")
    layers = keras.layers

    dense_x = hh / np.abs(hh[train]).max()
    dense = keras.Sequential(
        [keras.Input((75, 75)), layers.Flatten()]
        + [layers.Dense(128, activation="relu") for _ in range(4)]
        + [layers.Dense(1, activation="sigmoid")]
    )
    dense.compile(
        optimizer=keras.optimizers.SGD(0.01), loss="binary_crossentropy", metrics=["accuracy"]
    )
    dense.fit(dense_x[train], labels[train], epochs=epochs, batch_size=32, verbose=0)

    cnn_x = np.stack([hh, hv, (hh + hv) / 2.0], axis=-1)
    cnn = keras.Sequential(
        [
            keras.Input((75, 75, 3)),
            layers.BatchNormalization(),
            layers.Conv2D(16, 3, activation="relu", padding="same"),
            layers.MaxPooling2D(2),
            layers.Conv2D(32, 3, activation="relu", padding="same"),
            layers.MaxPooling2D(2),
            layers.Conv2D(32, 3, activation="relu", padding="same"),
            layers.MaxPooling2D(2),
            layers.GlobalMaxPooling2D(),
            layers.Dense(32, activation="relu"),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    cnn.compile(
        optimizer=keras.optimizers.Adam(0.001), loss="binary_crossentropy", metrics=["accuracy"]
    )
    cnn.fit(cnn_x[train], labels[train], epochs=epochs, batch_size=32, verbose=0)
    return {
        "dense": float(dense.evaluate(dense_x[test], labels[test], verbose=0)[1]),
        "cnn": float(cnn.evaluate(cnn_x[test], labels[test], verbose=0)[1]),
    }
