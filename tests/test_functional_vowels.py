"""``python -m reproduce functional --dataset japanesevowels``: the reader, NaN padding through
the Neural CDE, accuracy and its clipped interval."""

import hashlib
import json
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from reproduce import functional

try:
    HAS_SKTIME = bool(metadata.distribution("sktime"))
except metadata.PackageNotFoundError:
    HAS_SKTIME = False
needs_sktime = pytest.mark.skipif(not HAS_SKTIME, reason="sktime (the functional extra) is absent")


def vowels_file(split):
    name = f"sktime/datasets/data/JapaneseVowels/JapaneseVowels_{split}.ts"
    return Path(metadata.distribution("sktime").locate_file(name))


@needs_sktime
def test_the_reader_gives_the_documented_shape():
    # The .ts header: 9 speakers, 12 dimensions, lengths 7 to 29, 30 training utterances each.
    (x, y), (xs, ys) = (functional.read_ts(vowels_file(s).read_text()) for s in ("TRAIN", "TEST"))
    assert (len(x), len(xs), x.shape[2], xs.shape[2]) == (270, 370, 12, 12)
    lengths = np.concatenate([(~np.isnan(a).all(-1)).sum(1) for a in (x, xs)])
    assert (lengths.min(), lengths.max()) == (7, 29)
    for a in (x, xs):  # NaN only as trailing padding, in every channel at once
        filled = ~np.isnan(a).any(-1)
        assert (filled == (np.arange(a.shape[1]) < filled.sum(1)[:, None])).all()
    assert set(y) == set(ys) == set(range(1, 10)) and (np.bincount(y.astype(int))[1:] == 30).all()


@needs_sktime
def test_load_splits_pads_labels_and_records_the_files():
    data = functional.load("japanesevowels")
    (x, y), (xv, yv), (xs, ys) = data["train"], data["val"], data["test"]
    assert (len(x), len(xv), len(xs)) == (216, 54, 370) and x.shape[1:] == xs.shape[1:] == (29, 12)
    assert (np.bincount(yv) == 6).all() and (np.bincount(y) == 24).all() and ys.max() == 8
    for name, digest in data["origin"]["sha256"].items():
        split = name.split("_")[1][:-3]
        assert hashlib.sha256(vowels_file(split).read_bytes()).hexdigest() == digest


def cde_outputs(settings, inputs, steps):
    """The CDE block's output on ``inputs``, and on each series cut at its end with the same
    weights."""
    grid = np.linspace(0.0, 1.0, inputs.shape[1])
    padded = functional.cde_block(settings, grid)
    whole = np.asarray(padded(inputs))
    cut = []
    for sample, n in zip(inputs, steps):
        alone = functional.cde_block(settings, grid[:n])
        alone(sample[None, :n])
        alone.set_weights(padded.get_weights())
        cut.append(np.asarray(alone(sample[None, :n]))[0])
    return whole, np.stack(cut)


def test_padding_adds_nothing_to_the_cde():
    pytest.importorskip("tensorflow")
    import keras

    keras.utils.set_random_seed(0)
    steps, x = [10, 6, 3], np.random.default_rng(0).normal(size=(3, 10, 2))
    padding = np.arange(10)[None] >= np.array(steps)[:, None]
    x[padding] = np.nan
    x = functional.drop(x, 0.3, np.random.default_rng(1))  # gaps inside each series too
    inputs = functional.cde_inputs(functional.interpolate(x, padding), ~np.isnan(x))
    assert np.isnan(inputs[padding]).all() and not np.isnan(inputs[~padding]).any()
    settings = functional.DATASETS["japanesevowels"]["settings"]
    whole, cut = cde_outputs(settings, inputs, steps)
    np.testing.assert_allclose(whole, cut, rtol=1e-5, atol=1e-6)
    assert np.abs(whole).max() > 1e-2  # the state moved: the comparison says something
    # Euler on the Hermite path (Tecator's, which has no padding) would step into it:
    whole, cut = cde_outputs(functional.DATASETS["tecator"]["settings"], inputs, steps)
    assert not np.allclose(whole[1:], cut[1:], rtol=1e-3) and np.allclose(whole[0], cut[0])


def test_accuracy_and_its_interval_clipped_to_0_1_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    assert functional.SCORES["accuracy"]([0, 2, 1, 1], np.array([0, 2, 2, 1])) == 0.75
    for values in ([0.99, 0.97, 1.0], [0.5, 0.7, 0.6, 0.65, 0.55]):
        row = functional.summarise(values, (0.0, 1.0))
        half = stats.t.ppf(0.975, len(values) - 1) * stats.sem(values)
        assert row["mean"] == pytest.approx(np.mean(values)) and row["n"] == len(values)
        assert row["low"] == pytest.approx(max(np.mean(values) - half, 0.0))
        assert row["high"] == pytest.approx(min(np.mean(values) + half, 1.0))
    assert functional.summarise([0.99, 0.97, 1.0], (0.0, 1.0))["high"] == 1.0  # clipped
    assert functional.summarise([0.9], (0.0, 1.0)) == {
        "mean": 0.9,
        "low": None,
        "high": None,
        "n": 1,
    }


def test_a_vowels_run_names_its_folder_metric_and_figure(tmp_path, monkeypatch):
    def fit(kind, data, fraction, seed, epochs):
        return {"val_accuracy": 1.0, "test_accuracy": [0.98, 1.0][seed], "seconds": 0.0}

    x = np.zeros((4, 3, 1))
    data = {"train": (x, x[:, 0, 0]), "val": (x, x[:, 0, 0]), "test": (x, x[:, 0, 0])}
    origin = {"package": "fake", "sha256": {"f.ts": "00"}}
    monkeypatch.setattr(functional, "load", lambda name: {**data, "origin": origin, "name": name})
    monkeypatch.setattr(functional, "fit_one", fit)
    summary = functional.run(tmp_path, dataset="japanesevowels", quick=True, drops=(0.5,))
    root = tmp_path / "functional-japanesevowels-quick"
    assert [r["model"] for r in summary["rows"]] == ["cde", "logistic", "gru"]
    assert summary["rows"][0]["high"] == 1.0 and summary["rows"][0]["mean"] == pytest.approx(0.99)
    assert summary["interval"].endswith("clipped to [0, 1]")
    config = json.loads((root / "logistic-drop50" / "metrics.json").read_text())["config"]
    assert config["epochs"] == 10 and config["cde_method"] == "midpoint"
    assert (root / "accuracy_vs_drop.png").read_bytes()[:4] == b"\x89PNG"
