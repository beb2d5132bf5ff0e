"""--validation holds out training images, never test ones; the quick preset's rule on them."""

import json
import sys

import numpy as np

from reproduce import cli, preprocess
from reproduce.commands import quick_preset
from reproduce.data import synthetic
from reproduce.engine import RunConfig


def test_validation_holds_out_the_last_training_images_and_never_touches_the_test_ones():
    nums, not_nums = preprocess.report_split(1604, seed=1, kind="Rounding")
    config = RunConfig(model="resnet", validation=260)
    train, held_out = config.split(nums, not_nums)
    assert list(train) == list(nums[:1040]) and list(held_out) == list(nums[1040:])
    assert not set(held_out) & set(not_nums)
    limited = RunConfig(model="resnet", validation=260, limit_train=100, limit_test=20)
    train, held_out = limited.split(nums, not_nums)
    assert list(train) == list(nums[:100]) and list(held_out) == list(nums[1040:1060])
    # R's split untouched without the option
    assert [list(a) for a in RunConfig(model="dense").split(nums, not_nums)] == [
        list(nums),
        list(not_nums),
    ]
    assert config.run_dir("standin").name == "resnet-r-standin-e150-v260"


def test_a_validation_run_scores_on_held_out_training_images(tmp_path, monkeypatch):
    path = tmp_path / "train.json"
    path.write_text(json.dumps(synthetic.synthetic_train(n=40, seed=7)))
    argv = ["dense", "--data", str(path), "--epochs", "2", "--validation", "6"]
    argv += ["--verbose", "0", "--out", str(tmp_path / "runs")]
    monkeypatch.setattr(sys, "argv", ["reproduce", *argv])
    assert cli.main(argv) == 0
    folder = tmp_path / "runs" / "dense-r-real-e2-v6"
    metrics = json.loads((folder / "metrics.json").read_text())
    n_train = preprocess.default_n_train(40)
    assert (metrics["validation"], metrics["n_train"], metrics["n_test"]) == (6, n_train - 6, 6)
    assert "held-out validation accuracy" in (folder / "log.txt").read_text()
    # a different option is a different run: no resume across it
    assert metrics["config"]["validation"] == 6


def test_validation_must_leave_training_images(tmp_path, capsys):
    path = tmp_path / "train.json"
    path.write_text(json.dumps(synthetic.synthetic_train(n=40, seed=7)))
    n_train = preprocess.default_n_train(40)
    assert cli.main(["dense", "--data", str(path), "--validation", str(n_train)]) == 2
    assert (
        f"has {n_train} training images; hold out fewer than {n_train}" in capsys.readouterr().err
    )


def test_the_rule_takes_the_first_epoch_within_five_points_of_the_best_mean():
    curves = [[0.50, 0.70, 0.80, 0.90, 0.84], [0.50, 0.80, 0.86, 0.80, 0.84]]
    # means 0.50, 0.75, 0.83, 0.85, 0.84: best 0.85, so the first at or above 0.80 is epoch 3
    assert quick_preset.quick_epochs(curves) == 3
    assert quick_preset.quick_epochs([[0.6, 0.6, 0.6]]) == 1  # nothing learnt: one epoch
    assert quick_preset.quick_epochs([[0.1, 0.2, 0.3, 0.9]]) == 4


def test_quick_preset_reads_selection_runs_and_names_a_missing_seed(tmp_path, capsys):
    from tests._fake_runs import write_run

    runs = tmp_path / "selection"
    accuracy = {1: [0.5, 0.7, 0.8], 2: [0.6, 0.9, 0.85], 3: [0.55, 0.6, 0.9]}
    for seed in (1, 2):
        folder = write_run(runs, f"resnet-v-t{seed}", model="resnet", epochs=15, train_seed=seed)
        write_history(folder, [*accuracy[seed], *[0.8] * 12])
        meta = json.loads((folder / "metrics.json").read_text())
        (folder / "metrics.json").write_text(json.dumps({**meta, "validation": 260}))
    assert cli.main(["quick-preset", "--runs", str(runs)]) == 2
    assert "no finished selection run for training seed(s) [3]" in capsys.readouterr().err

    folder = write_run(runs, "resnet-v-t3", model="resnet", epochs=15, train_seed=3)
    write_history(folder, [*accuracy[3], *[0.8] * 12])
    meta = json.loads((folder / "metrics.json").read_text())
    (folder / "metrics.json").write_text(json.dumps({**meta, "validation": 260}))
    assert cli.main(["quick-preset", "--runs", str(runs)]) == 0
    record = json.loads((runs / "quick_preset.json").read_text())
    (row,) = record["models"]
    means = np.mean([[*accuracy[s], *[0.8] * 12] for s in (1, 2, 3)], axis=0)
    assert row["quick_epochs"] == 3  # means 0.55, 0.73, 0.85, 0.8, ...: 0.85 - 0.05 first at 3
    np.testing.assert_allclose(row["mean_validation_accuracy"], means)


def write_history(folder, accuracy):
    import pandas as pd

    pd.DataFrame({"epoch": np.arange(1, len(accuracy) + 1), "test_accuracy": accuracy}).to_csv(
        folder / "history.csv", index=False
    )
