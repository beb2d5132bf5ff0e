"""``python -m reproduce compare``: the tables' numbers, the majority share, the R history.

Run folders are written by the tests with the keys of the run-folder contract; the R history
fixture was produced by real R (R_FIXTURE_SCRIPT) and is compared byte for byte when
``Rscript`` is installed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from _fake_runs import write_run

from reproduce import cli
from reproduce.comparison import majority_share, read_r_history, run_compare
from reproduce.errors import ReproduceError
from reproduce.runs import curve_groups, load_runs

# What keras:::as.data.frame.keras_training_history builds (epochs planned 4, run 3: NA pad),
# written with write.csv. Running this script with Rscript printed R_FIXTURE_CSV below.
R_FIXTURE_SCRIPT = r"""
epochs <- 4
values <- list(loss = c(0.6931, 0.6512, 0.6123, NA), acc = c(0.5, 0.5875, 0.6641, NA),
               val_loss = c(0.7012, 0.6634, 0.6489, NA), val_acc = c(0.4872, 0.5513, 0.6090, NA))
df <- data.frame(
  epoch = seq_len(epochs),
  value = unlist(values),
  metric = rep(sub("^val_", "", names(values)), each = epochs),
  data = rep(grepl("^val_", names(values)), each = epochs)
)
rownames(df) <- NULL
df$data <- factor(df$data, c(FALSE, TRUE), c("training", "validation"))
df$metric <- factor(df$metric, unique(sub("^val_", "", names(values))))
write.csv(df, stdout())
"""

R_FIXTURE_CSV = """\
"","epoch","value","metric","data"
"1",1,0.6931,"loss","training"
"2",2,0.6512,"loss","training"
"3",3,0.6123,"loss","training"
"4",4,NA,"loss","training"
"5",1,0.5,"acc","training"
"6",2,0.5875,"acc","training"
"7",3,0.6641,"acc","training"
"8",4,NA,"acc","training"
"9",1,0.7012,"loss","validation"
"10",2,0.6634,"loss","validation"
"11",3,0.6489,"loss","validation"
"12",4,NA,"loss","validation"
"13",1,0.4872,"acc","validation"
"14",2,0.5513,"acc","validation"
"15",3,0.609,"acc","validation"
"16",4,NA,"acc","validation"
"""


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
    drawn = curve_groups(load_runs(root).runs)
    assert [group.name for group in drawn["dense"]] == ["c", "d"]  # faithful first
    assert not {r.name: r for r in load_runs(root).runs}["a"].finished


def test_compare_writes_the_tables_as_numbers(runs_dir, r_history_file, tmp_path):
    out = tmp_path / "cmp"
    argv = ["compare", "--runs", str(runs_dir), "--out", str(out)]
    assert cli.main([*argv, "--r-history", str(r_history_file)]) == 0
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
    assert "| history.csv | dense | 3 | 0.612" in text  # R's last epoch
    assert (out / "figures" / "fig04_07_curves_with_r.png").stat().st_size > 10_000


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


@pytest.fixture
def r_history_file(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text(R_FIXTURE_CSV)
    return path


def test_r_history_is_parsed_from_write_csv(r_history_file, tmp_path):
    history = read_r_history(r_history_file)
    assert list(history.columns) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    assert history["epoch"].tolist() == [1, 2, 3]  # the NA padding of epoch 4 is dropped
    assert history.attrs["epochs_without_values"] == [4]  # ... and said so
    np.testing.assert_allclose(history["accuracy"], [0.5, 0.5875, 0.6641])
    np.testing.assert_allclose(history["val_loss"], [0.7012, 0.6634, 0.6489])
    # write.csv(..., row.names = FALSE), training only, metric named "accuracy" (newer keras)
    plain = tmp_path / "plain.csv"
    plain.write_text(
        '"epoch","value","metric","data"\n1,0.7,"loss","training"\n1,0.5,"accuracy","training"\n'
    )
    assert read_r_history(plain).to_dict("list") == {"epoch": [1], "loss": [0.7], "accuracy": [0.5]}


@pytest.mark.parametrize(
    "row, message",
    [
        ('2,"oops","loss","training"', r"row 2 has value 'oops', not a number or NA"),
        ('1.5,0.6,"loss","training"', r"row 2 has epoch 1.5, not a whole epoch number"),
        ('x,0.6,"loss","training"', r"row 2 has epoch 'x', not a whole epoch number"),
        ('NA,0.6,"loss","training"', r"row 2 has epoch NA, not a whole epoch number"),
    ],
)
def test_r_history_refuses_what_it_would_otherwise_drop_or_merge(tmp_path, row, message):
    path = tmp_path / "h.csv"
    path.write_text(f'"epoch","value","metric","data"\n1,0.7,"loss","training"\n{row}\n')
    with pytest.raises(ReproduceError, match=message):
        read_r_history(path)


def test_r_history_errors_are_clear(tmp_path):
    wide = tmp_path / "wide.csv"
    wide.write_text("epoch,loss,acc\n1,0.7,0.5\n")
    with pytest.raises(ReproduceError, match="missing column.*value.*metric.*data"):
        read_r_history(wide)
    with pytest.raises(ReproduceError, match="does not exist"):
        read_r_history(tmp_path / "nope.csv")


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R is not installed")
def test_fixture_is_what_r_writes():
    done = subprocess.run(
        ["Rscript", "-e", R_FIXTURE_SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout == R_FIXTURE_CSV
