"""``python -m reproduce compare``: table rows, computed text, R history, README block.

Run folders are written here by the tests, with the keys of the run-folder
contract; the R history fixture was produced by real R (see R_FIXTURE_SCRIPT)
and is regenerated and compared byte for byte when ``Rscript`` is installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from _fake_runs import DATA_SHA, write_run

from reproduce import cli
from reproduce.comparison import (
    README_END,
    README_START,
    TABLE_HEADER,
    SplitShares,
    comparison_rows,
    curve_runs,
    explain,
    load_runs,
    read_r_history,
    replace_between_markers,
    run_compare,
)
from reproduce.errors import ReproduceError

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
    write_run(
        root, "dense-corrected", preprocessing="corrected", test_accuracy=0.8125, train_accuracy=0.9
    )
    write_run(
        root,
        "resnet-r",
        model="resnet",
        test_accuracy=0.8553,
        train_accuracy=0.9931,
        train_loss=0.02,
        r_style_test_accuracy=0.5,
        params=4_473_474,
        seconds_per_epoch=80.0,
    )
    write_run(
        root,
        "odenet-r",
        model="odenet",
        test_accuracy=0.8388,
        train_accuracy=0.95,
        params=171_234,
        nfe={"last_forward": 26, "mean_forward": 25.5},
        seconds_per_epoch=120.0,
    )
    (root / "figures").mkdir()  # not a run
    broken = root / "half-written"
    broken.mkdir()
    (broken / "metrics.json").write_text("{")
    return root


def test_statuses_are_read_through_the_run_folder_format(tmp_path):
    """An interrupted run is not finished: it loses to a shorter finished run and says so in the table."""
    from reproduce.engine import runfolder
    from reproduce.runs import representative_runs

    root = tmp_path / "results"
    write_run(root, "dense-done", status=runfolder.FINISHED, epochs=20)
    write_run(root, "dense-cut", status=runfolder.INTERRUPTED, epochs=120)
    runs = {run.name: run for run in load_runs(root).runs}
    assert runs["dense-done"].finished and not runs["dense-cut"].finished
    assert representative_runs(list(runs.values()))[("dense", "r")].name == "dense-done"
    row = {r[0]: r for r in comparison_rows(list(runs.values()))}["`dense-cut`"]
    assert row[3] == runfolder.INTERRUPTED and row[4] == "120 of 150"
    # The figure draws the finished run too, the unfinished one not at all.
    assert [run.name for run in curve_runs(list(runs.values()))["dense"]] == ["dense-done"]


def test_table_rows_are_read_from_the_runs(runs_dir):
    scan = load_runs(runs_dir)
    assert [r.name for r in scan.runs] == ["dense-corrected", "dense-r", "resnet-r", "odenet-r"]
    assert [name for name, _ in scan.skipped] == ["half-written"]
    rows = comparison_rows(scan.runs)
    by_source = {row[0]: row for row in rows}
    dense = by_source["`dense-r`"]
    assert dense[1:9] == [
        "dense",
        "r (faithful)",
        "finished",
        "150",
        "1300/304",
        "real `abababababab`",
        "53.6 % (n=1)",  # one training seed: no spread, n said
        "1: 53.6%",  # the training seed (the split's, recorded before the option) and its score
    ]
    assert dense[9] == "0.690 (n=1)" and dense[11] == "55.2 % (n=1)"
    assert dense[10] == "–"  # no inference-mode training score recorded
    assert dense[12] == "769,281" and dense[13] == "5.5 min"
    ode = by_source["`odenet-r`"]
    assert ode[14] == "26 (last), 25.5 (mean)" and ode[12] == "171,234"
    # The report's figures lead each model's block, quoted from report_claims.
    sources = [row[0] for row in rows]
    assert sources[0].startswith("report §2.2")
    report_rows = [row for row in rows if row[0].startswith("report")]
    assert [row[7] for row in report_rows] == ["54%", "over 98% (split unclear)", "none"]
    assert all(len(row) == len(TABLE_HEADER) for row in rows)


def test_explanation_follows_the_numbers(runs_dir):
    runs = load_runs(runs_dir).runs
    shares = SplitShares(
        n_test=304,
        majority_share=0.5329,
        majority_name="Not an Iceberg",
        data_sha256=DATA_SHA,
        data_kind="real",
    )
    text = "\n".join(explain(runs, shares))
    assert (
        "The report's 54%, measured on this same test split, is within two standard errors" in text
    )
    assert "The bugs cost 27.6 percentage points" in text  # 81.25 - 53.62
    assert "no better than guessing the majority class" in text
    assert "looks like an accuracy on the training images" in text
    assert (
        "gives 0.500 here" in text
        and "cannot have come from that line" in text
        and "cut off" in text
    )
    assert "171,234 parameters, 3.8% of the residual CNN's 4,473,474" in text

    # Other numbers, other words.
    for run in runs:
        if run.name == "dense-r":
            run.metrics["test_accuracy"] = 0.80
        if run.name == "resnet-r":
            run.metrics["test_accuracy"] = 0.985
    text = "\n".join(explain(runs, shares))
    assert "The bugs cost" not in text and "within two standard errors" in text
    assert "26.7 percentage points above it: it learned something" in text
    assert "Both clear 98%" in text
    # On the stand-in the test split is not the report's: no comparison with its 54%.
    stand_in = SplitShares(304, 0.5329, "Not an Iceberg", DATA_SHA, data_kind="stand-in")
    assert "The report's 54%" not in "\n".join(explain(runs, stand_in))


def test_explanation_says_what_is_missing(tmp_path):
    root = tmp_path / "results"
    write_run(root, "dense-r")
    text = "\n".join(explain(load_runs(root).runs, None, "the data is not on this machine"))
    assert "train the corrected one" in text
    assert "not computed: the data is not on this machine" in text
    assert "No residual CNN run" in text and "No ODE-Net run" in text


def test_representative_run_prefers_finished_then_longest(tmp_path):
    root = tmp_path / "results"
    write_run(root, "a", epochs=150, status="interrupted", train_loss=0.5)
    write_run(root, "b", epochs=30, quick=True)
    write_run(root, "c", epochs=60)
    write_run(root, "d", epochs=10, preprocessing="corrected")
    drawn = curve_runs(load_runs(root).runs)
    assert [run.name for run in drawn["dense"]] == ["c", "d"]  # faithful first, then corrected


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


def test_readme_block_is_replaced_and_markers_are_required():
    text = f"# Title\n\nintro\n\n{README_START}\nold table\n{README_END}\n\nafter\n"
    new = replace_between_markers(text, "NEW\n")
    assert new == f"# Title\n\nintro\n\n{README_START}\nNEW\n{README_END}\n\nafter\n"
    assert replace_between_markers(new, "NEW\n") == new  # idempotent
    with pytest.raises(ReproduceError, match="results:start"):
        replace_between_markers("# no markers\n", "x")
    with pytest.raises(ReproduceError, match="before"):
        replace_between_markers(f"{README_END}\n{README_START}\n", "x")


def test_compare_command_end_to_end(runs_dir, r_history_file, tmp_path, capsys, monkeypatch):
    figures = runs_dir / "figures"
    (figures / "fig09_solution_curves.png").write_bytes(
        b"\x89PNG"
    )  # links only to files that exist
    readme = tmp_path / "README.md"
    readme.write_text(f"# Project\n\n{README_START}\nstale\n{README_END}\n\n## Licence\n")
    out = tmp_path / "COMPARISON.md"
    monkeypatch.chdir(tmp_path)
    status = cli.main(
        [
            "compare",
            "--runs",
            str(runs_dir),
            "--out",
            str(out),
            "--r-history",
            str(r_history_file),
            "--readme",
            str(readme),
        ]
    )
    assert status == 0
    text = out.read_text()
    assert "| `resnet-r` | resnet |" in text and "R keras `history.csv`" in text
    assert "66.4%" in text  # R's final training accuracy
    assert "## What the differences mean" in text and "half-written" in text
    assert (
        "not computed: the data of run dense-corrected (real, sha256 abababababab) is not on this machine"
        in text
    )
    assert "(results/figures/fig09_solution_curves.png)" in text
    assert (figures / "fig04_07_curves_with_r.png").stat().st_size > 10_000
    new_readme = readme.read_text()
    assert "stale" not in new_readme and "| `dense-r` | dense |" in new_readme
    assert new_readme.startswith("# Project\n") and new_readme.endswith(
        f"{README_END}\n\n## Licence\n"
    )
    assert "](results/figures/fig04_07_curves_with_r.png)" in new_readme

    readme.write_text("# no markers\n")
    status = cli.main(
        ["compare", "--runs", str(runs_dir), "--out", str(out), "--readme", str(readme)]
    )
    assert status == 2
    assert "results:start" in capsys.readouterr().err


def test_majority_share_comes_from_the_runs_data(tmp_path):
    """The test split's class balance is computed from the run's own data file, found by
    its recorded path and checked by sha256; checked here against R's sampler directly."""
    from reproduce.comparison import shares_for_run
    from reproduce.data import write_train_json
    from reproduce.data.synthetic import synthetic_train
    from reproduce.rcompat import r_sample

    path = tmp_path / "train.json"
    sha = write_train_json(synthetic_train(40, seed=5), path)
    folder = write_run(
        tmp_path / "results",
        "dense-r",
        data={"kind": "real", "path": str(path), "sha256": sha, "n_records": 40},
    )
    run = load_runs(folder.parent).runs[0]
    shares, note = shares_for_run(run)
    labels = np.array([r["is_iceberg"] for r in json.loads(path.read_text())])
    train = r_sample(40, round(40 * 1300 / 1604), 1, "Rounding") - 1
    test = np.setdiff1d(np.arange(40), train)
    expected = max(labels[test].mean(), 1 - labels[test].mean())
    assert note == "" and shares.n_test == len(test) == 8
    assert shares.majority_share == pytest.approx(expected)
    # A different file at that path (sha256 differs) is not used.
    write_train_json(synthetic_train(40, seed=6), path)
    shares, note = shares_for_run(run)
    assert shares is None and "not on this machine" in note


def test_compare_needs_a_runs_folder(tmp_path):
    with pytest.raises(ReproduceError, match="does not exist"):
        run_compare(tmp_path / "missing", compute_shares=False)


def test_table_notes_name_the_stand_in_and_the_code_versions(tmp_path):
    from reproduce.comparison.table import table_notes

    standin = {"kind": "stand-in", "path": None, "sha256": "e" * 64, "n_records": 1604}
    write_run(tmp_path, "a", git_commit="a" * 40)
    write_run(tmp_path, "b", git_commit="a" * 40)
    notes = table_notes(load_runs(tmp_path).runs)  # real data, one clean version: no such note
    assert not any("stand-in" in note or "code version" in note for note in notes)

    write_run(tmp_path, "c", git_commit="c" * 40 + "-dirty", data=standin)
    notes = table_notes(load_runs(tmp_path).runs)[:2]
    assert "stand-in" in notes[0] and "chance" in notes[0]
    assert "2 code version(s)" in notes[1]
    assert "`aaaaaaa`: a, b" in notes[1] and "`ccccccc-dirty`: c" in notes[1]


def test_the_notes_stand_under_both_tables(tmp_path, monkeypatch, capsys):
    runs = tmp_path / "runs"
    standin = {"kind": "stand-in", "path": None, "sha256": "e" * 64, "n_records": 1604}
    write_run(runs, "dense-r", data=standin, git_commit="1" * 40)
    write_run(runs, "dense-corrected", preprocessing="corrected", git_commit="2" * 40)
    readme = tmp_path / "README.md"
    readme.write_text(f"# Project\n\n{README_START}\nstale\n{README_END}\n")
    from reproduce.comparison import run_compare

    out = run_compare(runs, readme=readme, compute_shares=False)
    for text in (out.read_text(), readme.read_text()):
        table = text.index("| source |")
        assert table < text.index("that is chance, not a reproduction")  # right under it
        assert table < text.index("2 code version(s)")


def _seeded_runs(root, model, preprocessing, accuracies, **overrides):
    """One run per training seed with the given final test accuracies."""
    for seed, accuracy in enumerate(accuracies, start=1):
        suffix = "" if seed == 1 else f"-t{seed}"
        write_run(
            root,
            f"{model}-{preprocessing}{suffix}",
            model=model,
            preprocessing=preprocessing,
            train_seed=seed,
            test_accuracy=accuracy,
            **overrides,
        )


def test_dense_bugs_one_at_a_time(tmp_path):
    root = tmp_path / "results"
    constant = {"predicted_class_shares": {"0": 1.0, "1": 0.0}}
    mixed = {"predicted_class_shares": {"0": 0.4, "1": 0.6}}
    _seeded_runs(root, "dense", "r", [0.546] * 3, **constant)
    _seeded_runs(root, "dense", "r-array-only", [0.55, 0.56, 0.57], **mixed)
    _seeded_runs(root, "dense", "r-scaling-only", [0.62, 0.64, 0.63], **mixed)
    _seeded_runs(root, "dense", "corrected", [0.64, 0.65, 0.63], **mixed)
    text = "\n".join(explain(load_runs(root).runs))
    assert "both bugs (as printed) (`r`) 54.6% (150 epochs, 3 seeds, a constant classifier" in text
    assert "the array bug alone (`r-array-only`) 56.0%" in text
    # 64.0 - 56.0 = 8.0 points > two standard errors on 304 images (5.5): a cost
    assert "The array bug alone costs 8.0 percentage points against the corrected" in text
    # 64.0 - 63.0 = 1.0 point: within two standard errors
    assert "The scaling bug alone makes no difference beyond two standard errors" in text


def _write_history(folder, test_accuracy, batch_stats):
    epochs = len(test_accuracy)
    pd.DataFrame(
        {
            "epoch": np.arange(1, epochs + 1),
            "loss": np.linspace(0.7, 0.3, epochs),
            "accuracy": np.linspace(0.6, 0.9, epochs),
            "test_loss": np.linspace(0.7, 0.4, epochs),
            "test_accuracy": test_accuracy,
            "test_accuracy_batch_stats": batch_stats,
        }
    ).to_csv(folder / "history.csv", index=False)


def test_swings_are_told_from_the_per_epoch_diagnostics(tmp_path):
    root = tmp_path / "results"
    swinging = [0.70, 0.85, 0.65, 0.80]  # steps 15, 20, 15 points: mean 16.7
    steady = [0.84, 0.86, 0.85, 0.87]  # steps 2, 1, 2: mean 1.7
    for model, params in (("resnet", 5_578_574), ("odenet", 4_795_094)):
        _seeded_runs(
            root,
            model,
            "r",
            [0.80, 0.78, 0.82],
            epochs=4,
            params=params,
            train_accuracy_inference=0.88,
        )
        for suffix in ("", "-t2", "-t3"):
            _write_history(root / f"{model}-r{suffix}", swinging, steady)
    text = "\n".join(explain(load_runs(root).runs))
    assert "changed by 16.7 percentage points on average" in text
    assert "by 1.7 percentage points. At the last epoch: 80.0% with the moving statistics" in text
    assert "against 87.0% with batch statistics" in text
    assert "The weights classify steadily" in text
    assert "standard deviations are 2.0 percentage points and 2.0 percentage points" in text
    # last 4 epochs' mean: (0.70 + 0.85 + 0.65 + 0.80) / 4 = 75.0 % for both
    assert "75.0% against 75.0%: the ODE-Net 0.0 percentage points above" in text
    # Steady swings in both columns: no claim about the moving statistics.
    for model in ("resnet", "odenet"):
        for suffix in ("", "-t2", "-t3"):
            _write_history(root / f"{model}-r{suffix}", swinging, swinging)
    assert "The weights classify steadily" not in "\n".join(explain(load_runs(root).runs))
    # Runs of 3 epochs have no "last 4 epochs": no average is claimed for them.
    for model in ("resnet", "odenet"):
        for suffix in ("", "-t2", "-t3"):
            _write_history(root / f"{model}-r{suffix}", swinging[:3], steady[:3])
    text = "\n".join(explain(load_runs(root).runs))
    assert "standard deviations are 2.0 percentage points" in text
    assert "Averaged over each run's last" not in text
