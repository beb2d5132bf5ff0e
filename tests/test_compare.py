"""``python -m reproduce compare``: the tables' numbers and the majority share, from run
folders written by the tests with the keys of the run-folder contract."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from _fake_runs import write_run

from reproduce import cli
from reproduce.comparison import majority_share, run_compare
from reproduce.errors import ReproduceError
from reproduce.runs import curve_groups, load_runs


@pytest.fixture
def runs_dir(tmp_path):
    root = tmp_path / "results"
    write_run(root, "dense-r", test_accuracy=0.5362, train_accuracy=0.5521)
    write_run(root, "dense-corrected", preprocessing="corrected", test_accuracy=0.8125)
    write_run(root, "resnet-r", model="resnet", test_accuracy=0.8553, params=4_473_474)
    write_run(
        root,
        "odenet-r",
        model="odenet",
        test_accuracy=0.8388,
        nfe={"last_forward": 26, "mean_forward": 25.5},
        ode={"method": "rk4", "step_size": 0.5, "rtol": 1e-3, "atol": 1e-3},
    )
    (root / "figures").mkdir()  # not a run
    broken = root / "half-written"
    broken.mkdir()
    (broken / "metrics.json").write_text("{")
    return root


def test_run_folders_are_read_and_broken_ones_skipped(runs_dir):
    scan = load_runs(runs_dir)
    assert [r.name for r in scan.runs] == ["dense-corrected", "dense-r", "resnet-r", "odenet-r"]
    assert [name for name, _ in scan.skipped] == ["half-written"]
    assert scan.runs[1].history["accuracy"].iloc[-1] == pytest.approx(0.5521)


def test_compare_needs_a_runs_folder(tmp_path):
    with pytest.raises(ReproduceError, match="does not exist"):
        run_compare(tmp_path / "missing", tmp_path, compute_shares=False)


def test_curves_draw_finished_runs_first_then_the_longest(tmp_path):
    root = tmp_path / "results"
    write_run(root, "a", epochs=150, status="interrupted")
    write_run(root, "b", epochs=30, quick=True)
    write_run(root, "c", epochs=60)
    write_run(root, "d", epochs=10, preprocessing="corrected")
    write_run(root, "e", epochs=90, config={"run_name": "e"})  # a named variant
    drawn = curve_groups(load_runs(root).runs)
    assert [group.name for group in drawn["dense"]] == ["c", "d"]  # faithful first
    assert not {r.name: r for r in load_runs(root).runs}["a"].finished


def test_compare_writes_the_tables_as_numbers(runs_dir, tmp_path):
    out = tmp_path / "cmp"
    argv = ["compare", "--runs", str(runs_dir), "--out", str(out)]
    assert cli.main(argv) == 0
    table = pd.read_csv(out / "comparison.csv")
    row = table.set_index("configuration").loc["resnet-r"]
    assert row["test_accuracy_mean"] == pytest.approx(0.8553) and row["n"] == 1
    assert row["test_accuracy_per_seed"] == "1:0.8553" and np.isnan(row["ci95_low"])
    assert row["report"] == "over 98%" and np.isnan(row["majority_share"])  # data not here
    assert table.set_index("configuration").loc["odenet-r", "solver"] == "rk4 step=0.5"
    assert list(table["model"]) == ["dense", "dense", "resnet", "odenet"]
    text = (out / "comparison.md").read_text()
    assert text.splitlines()[2].startswith(f"`python -m reproduce {' '.join(argv[:1])}")
    assert "| resnet-r | resnet-r | 1 | finished | 150 | 85.5 |" in text
    assert "| half-written |" in text


def test_majority_share_comes_from_the_runs_data(tmp_path):
    """The test split's class balance, from the run's own data file found by its recorded
    path and checked by sha256; checked here against R's sampler directly."""
    from reproduce.data import write_train_json
    from reproduce.data.synthetic import synthetic_train
    from reproduce.rcompat import r_sample

    path = tmp_path / "train.json"
    sha = write_train_json(synthetic_train(40, seed=5), path)
    data = {"kind": "real", "path": str(path), "sha256": sha, "n_records": 40}
    folder = write_run(tmp_path / "results", "dense-r", data=data)
    run = load_runs(folder.parent).runs[0]
    labels = np.array([r["is_iceberg"] for r in json.loads(path.read_text())])
    train = r_sample(40, round(40 * 1300 / 1604), 1, "Rounding") - 1
    test = labels[np.setdiff1d(np.arange(40), train)]
    assert majority_share(run) == pytest.approx(max(test.mean(), 1 - test.mean()))
    run.metrics["limit_test"] = 3  # a run's --limit-test keeps the first test images
    assert majority_share(run) == pytest.approx(max(test[:3].mean(), 1 - test[:3].mean()))
    write_train_json(synthetic_train(40, seed=6), path)  # another file at that path
    assert majority_share(run) is None


def test_majority_share_of_the_stand_in_is_regenerated(tmp_path):
    from reproduce.data import stand_in_json_bytes, synthetic_arrays
    from reproduce.preprocess import report_split

    sha = hashlib.sha256(stand_in_json_bytes(50, 0)).hexdigest()
    data = {"kind": "stand-in", "path": None, "sha256": sha, "n_records": 50}
    folder = write_run(tmp_path / "results", "dense-r", data=data)
    (run,) = load_runs(folder.parent).runs
    labels = synthetic_arrays(50, 0)["is_iceberg"][report_split(50)[1]]
    assert majority_share(run) == pytest.approx(max(labels.mean(), 1 - labels.mean()))
    run.metrics["data"] = {**data, "sha256": "ef" * 32}  # another generator: not used
    assert majority_share(run) is None


def test_a_value_of_the_wrong_type_is_refused_naming_its_file(runs_dir, tmp_path, capsys):
    write_run(runs_dir, "dense-hand-edited", preprocessing="corrected", test_accuracy="high")
    argv = ["compare", "--runs", str(runs_dir), "--out", str(tmp_path / "out")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    assert err.startswith(f"error: {runs_dir / 'dense-hand-edited' / 'metrics.json'}: "), err
    assert "'high'" in err and "fix it or move its run folder" in err
    assert not (tmp_path / "out").exists()  # nothing half-written
