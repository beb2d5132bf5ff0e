"""``python -m reproduce functional``: the drop rule, the baselines, padding, the data's hash,
the intervals, resuming."""

import hashlib
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from reproduce import cli, functional
from reproduce.commands import functional as commands_functional
from reproduce.errors import ReproduceError

ROOT = Path(__file__).resolve().parents[1]


def has_sktime() -> bool:
    try:
        return bool(metadata.distribution("sktime"))
    except metadata.PackageNotFoundError:
        return False


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.5, 0.7])
def test_drop_removes_the_fraction_at_the_same_points_in_every_channel(fraction):
    x = np.random.default_rng(0).normal(size=(20, 50, 3))
    dropped = functional.drop(x, fraction, np.random.default_rng(1))
    missing = np.isnan(dropped)
    assert (missing.all(-1) == missing.any(-1)).all()  # a point goes from every channel
    assert (missing[..., 0].sum(1) == round(fraction * 50)).all()
    assert np.array_equal(dropped[~missing], x[~missing]) and not np.isnan(x).any()
    if fraction:  # samples lose different points
        assert len({tuple(np.flatnonzero(m[:, 0])) for m in missing}) == 20


def test_interpolation_recovers_a_line_and_holds_the_ends():
    line = np.linspace(0.0, 9.0, 10)[None, :, None] * [1.0, -2.0]
    gappy = line.copy()
    gappy[0, [0, 3, 4, 9]] = np.nan
    filled = functional.interpolate(gappy, np.zeros((1, 10), bool))
    np.testing.assert_allclose(filled[0, 1:9], line[0, 1:9])
    np.testing.assert_allclose(filled[0, [0, 9]], line[0, [1, 8]])
    gappy[0, 6:] = np.nan  # a series of 6 points, padded: the padding stays NaN
    filled = functional.interpolate(gappy, np.arange(10)[None] >= 6)
    np.testing.assert_allclose(filled[0, 1:6], line[0, 1:6])
    assert filled[0, 0, 1] == line[0, 1, 1] and np.isnan(filled[0, 6:]).all()


def test_a_padded_series_loses_its_own_points_only_and_resamples_linearly():
    x = np.full((50, 10, 2), np.nan)
    x[:, :4] = np.random.default_rng(0).normal(size=(50, 4, 2))
    dropped = functional.drop(x, 0.5, np.random.default_rng(1))
    assert (np.isnan(dropped[:, :4, 0]).sum(1) == 2).all() and np.isnan(dropped[:, 4:]).all()
    line = np.where(np.arange(10)[None, :, None] < 4, 3.0 * np.arange(10)[None, :, None], np.nan)
    grid = functional.resample(line, np.arange(10)[None] >= 4)[0, :, 0]
    np.testing.assert_allclose(grid, np.linspace(0.0, 9.0, 10))  # 4 points spread over 10


def test_gru_inputs_forward_fill_with_mask_and_time():
    x = np.array([[[np.nan], [1.0], [np.nan], [3.0]]])
    got = functional.gru_inputs(x, np.array([[False, False, False, True]]))[0]
    np.testing.assert_allclose(got[:3, 0], [0, 1, 1])
    np.testing.assert_allclose(got[:3, 1], [0, 1, 0])
    np.testing.assert_allclose(got[:3, 2], [0, 1 / 3, 2 / 3], rtol=1e-6)
    assert (got[3] == -1).all()  # padding: what keras.layers.Masking(-1) skips


def test_ridge_matches_scikit_learn_and_the_exact_solution():
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(40, 6, 1)), rng.normal(size=6)
    y = x[..., 0] @ w + 2.5
    coef, intercept = functional.ridge(x, y, 1e-10)
    np.testing.assert_allclose(coef, w, atol=1e-6)
    assert intercept == pytest.approx(2.5, abs=1e-6)
    linear_model = pytest.importorskip("sklearn.linear_model")
    noisy = y + rng.normal(size=40)
    reference = linear_model.Ridge(alpha=3.0).fit(x[..., 0], noisy)
    coef, intercept = functional.ridge(x, noisy, 3.0)
    np.testing.assert_allclose(coef, reference.coef_, rtol=1e-8)
    assert intercept == pytest.approx(reference.intercept_)


def test_read_ts_pads_unequal_lengths_with_nan():
    text = "@problemName t\n@data\n1,2,3:4,5,6:a\n7,8:9,10:b\n"
    x, y = functional.read_ts(text.replace(":a", ":1.5").replace(":b", ":2"))
    assert x.shape == (2, 3, 2) and np.isnan(x[1, 2]).all()
    np.testing.assert_array_equal(x[1, :2], [[7, 9], [8, 10]])
    np.testing.assert_array_equal(y, [1.5, 2.0])


@pytest.mark.skipif(not has_sktime(), reason="sktime (the functional extra) is not installed")
def test_tecator_loads_with_its_files_hash_and_the_fixed_validation_rule():
    data = functional.load()
    assert data["origin"]["version"] == metadata.version("sktime")
    for name, digest in data["origin"]["sha256"].items():
        path = metadata.distribution("sktime").locate_file(f"sktime/datasets/data/Tecator/{name}")
        assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == digest
    sizes = [len(data[k][0]) for k in ("train", "val", "test")]
    assert sizes == [138, 34, 43] and data["test"][0].shape[1:] == (100, 1)


def fake_data(name="tecator"):
    x = np.random.default_rng(0).normal(size=(10, 8, 1))
    return {"train": (x, x[:, 0, 0]), "val": (x, x[:, 0, 0]), "test": (x, x[:, 0, 0])} | {
        "origin": {"package": "fake", "sha256": {"f.ts": "00"}},
        "name": name,
    }


def test_a_rerun_skips_finished_seeds_and_refuses_another_configuration(tmp_path, monkeypatch):
    calls = []

    def fit(kind, data, fraction, seed, epochs):
        calls.append((kind, fraction, seed))
        return {"val_rmse": 1.0, "test_rmse": 1.0 + seed, "seconds": 0.0}

    monkeypatch.setattr(functional, "load", fake_data)
    monkeypatch.setattr(functional, "fit_one", fit)
    options = {"seeds": 2, "epochs": 1, "models": ("ridge",), "drops": (0.0, 0.5)}
    summary = functional.run(tmp_path, **options)
    assert len(calls) == 4 and summary["rows"][0]["mean"] == 1.5 and summary["rows"][0]["n"] == 2
    assert summary["rows"][0]["low"] == 0.0  # 1.5 -/+ 12.7 * 0.5: clipped to RMSE's range
    assert summary["interval"] == "95% Student-t over seeds, clipped to [0, inf)"
    metrics_file = tmp_path / "functional" / "ridge-drop50" / "metrics.json"
    metrics = json.loads(metrics_file.read_text())
    assert metrics["data"]["sha256"] == {"f.ts": "00"} and metrics["provenance"]["git_commit"]
    del metrics["per_seed"]["1"]  # as if interrupted during the last fit
    metrics_file.write_text(json.dumps(metrics))
    functional.run(tmp_path, **options)
    assert calls[4:] == [("ridge", 0.5, 1)]
    assert (tmp_path / "functional" / "rmse_vs_drop.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ReproduceError, match="another configuration; pass --force"):
        functional.run(tmp_path, **{**options, "epochs": 2})


def test_help_does_not_import_tensorflow():
    code = (
        "import sys\nfrom reproduce import cli\n"
        "try:\n    cli.main(['functional', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert "--quick" in done.stdout and done.stdout.splitlines()[-1] == "False False"


@pytest.mark.parametrize(
    "argv, phrase",
    [
        (["--drops", "0,1.5"], "fractions must lie in [0, 1)"),
        (["--seeds", "0"], "must be a positive integer"),
        (["--dataset", "vowels"], "invalid choice: 'vowels'"),
    ],
)
def test_bad_values_exit_2(argv, phrase, capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(["functional", *argv])
    assert exit.value.code == 2 and phrase in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, phrase",
    [
        (["--models", "cde,lstm"], "unknown model 'lstm' for tecator"),
        (["--dataset", "japanesevowels", "--models", "ridge"], "'ridge' for japanesevowels"),
    ],
)
def test_a_model_the_data_set_lacks_is_one_line_and_exit_2(argv, phrase, capsys):
    assert cli.main(["functional", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and phrase in err and "choose from ('cde'" in err


def test_the_command_line_offers_every_data_set():
    assert commands_functional.DATASETS == tuple(functional.DATASETS)


def test_a_missing_extra_names_the_pip_command(monkeypatch, capsys, tmp_path):
    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(functional.metadata, "distribution", missing)
    assert cli.main(["functional", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'neural-ode-iceberg[functional]'" in err
