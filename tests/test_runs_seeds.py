"""Several training seeds: run names, seed groups and their statistics (mean, 95% t-interval).

The statistics are checked against NumPy's and SciPy's; the end-to-end run against the data
split recomputed from R's sampler.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import scipy.stats
from _fake_runs import SEED_RUN, three_seeds
from _fake_runs import write_run as fake_run

from reproduce import cli, settings
from reproduce.commands import train
from reproduce.comparison import comparison_tables
from reproduce.comparison.stats import mean_interval, t_quantile
from reproduce.errors import ReproduceError
from reproduce.runs import load_runs, seed_groups


def write_run(root, name, **overrides):
    """A finished dense run on real data with the contract's keys, and its history."""
    return fake_run(root, name, **{**SEED_RUN, **overrides})


# ---------------------------------------------------------------- run names


def parse(*argv):
    return cli.build_parser().parse_args(list(argv))


class _Source:
    kind = "stand-in"


def test_run_names_get_the_training_seed_where_it_is_not_the_splits():
    args = parse("resnet", "--quick", "--train-seeds", "1", "2", "3")
    names = [train.resolve_options("resnet", args, s).run_dir(_Source).name for s in (1, 2, 3)]
    # train_seed == seed keeps the name existing folders have
    assert names == [
        "resnet-r-standin-quick",
        "resnet-r-standin-quick-t2",
        "resnet-r-standin-quick-t3",
    ]
    assert all(train.resolve_options("resnet", args, s).skip_finished for s in (1, 2))
    args = parse("all", "--seed", "2", "--train-seed", "2", "--run-name", "x")
    assert train.resolve_options("odenet", args).run_dir(_Source).name == "x-odenet"
    assert not train.resolve_options("odenet", args).skip_finished  # one seed: as before
    args = parse("all", "--seed", "2", "--train-seeds", "5", "--run-name", "x")
    assert train.resolve_options("odenet", args).run_dir(_Source).name == "x-odenet-t5"


def test_a_repeated_training_seed_is_refused():
    with pytest.raises(ReproduceError, match="repeats 2"):
        train.training_seeds(parse("dense", "--train-seeds", "2", "3", "2"))


# ---------------------------------------------------------------- seed groups


def test_runs_differing_only_in_the_training_seed_form_one_group(tmp_path):
    three_seeds(tmp_path)
    write_run(tmp_path, "dense-r-real-e4-t4", train_seed=4, git_commit="4" * 40)
    (group,) = seed_groups(load_runs(tmp_path).runs)
    assert group.n == 4 and group.train_seeds == [1, 2, 3, 4]
    assert group.name == "dense-r-real-e4"


def test_the_recorded_configuration_groups_by_its_settings_not_its_seed(tmp_path):
    for seed in (1, 2):  # as a run writes it: the whole command line, seed and folder included
        config = {"model": "dense", "rtol": 1e-3, "train_seed": seed, "out": f"o{seed}"}
        write_run(tmp_path, f"a-t{seed}", train_seed=seed, config=config)
    write_run(tmp_path, "b", train_seed=3, config={"model": "dense", "rtol": 1e-4, "train_seed": 3})
    groups = seed_groups(load_runs(tmp_path).runs)
    assert [g.train_seeds for g in groups] == [[1, 2], [3]]


def test_a_run_from_before_the_option_counts_as_its_splits_seed(tmp_path):
    three_seeds(tmp_path)
    old = json.loads((tmp_path / "dense-r-real-e4" / "metrics.json").read_text())
    del old["train_seed"]
    (tmp_path / "dense-r-real-e4" / "metrics.json").write_text(json.dumps(old))
    (group,) = seed_groups(load_runs(tmp_path).runs)
    assert group.train_seeds == [1, 2, 3]


@pytest.mark.parametrize(
    "setting",
    [
        {"epochs_planned": 5},
        {"epochs": 3, "status": "interrupted"},
        {"batch_size": 16},
        {"seed": 2},  # another split
        {"semantics": "keras3"},
        {"limit_train": 64},
        {"preprocessing": "corrected"},
        {"data": {**SEED_RUN["data"], "sha256": "cd" * 32}},
        {"ode": {"method": "rk4"}},  # a setting this module does not know of splits too
    ],
)
def test_a_differing_setting_splits_the_group(tmp_path, setting):
    three_seeds(tmp_path)
    write_run(tmp_path, "other-t4", train_seed=4, **setting)
    groups = seed_groups(load_runs(tmp_path).runs)
    assert sorted(g.train_seeds for g in groups) == [[1, 2, 3], [4]]


def test_a_repeated_seed_is_not_counted_twice(tmp_path):
    three_seeds(tmp_path)
    write_run(tmp_path, "again", train_seed=2, test_accuracy=0.9)
    groups = seed_groups(load_runs(tmp_path).runs)
    assert sorted(g.train_seeds for g in groups) == [[1, 2, 3], [2]]


# ---------------------------------------------------------------- statistics


@pytest.mark.parametrize("df", [*range(1, 41), 57, 100, 1000])
def test_t_quantile_is_scipys(df):
    assert t_quantile(0.95, df) == pytest.approx(scipy.stats.t.ppf(0.975, df), rel=1e-9)
    assert t_quantile(0.99, df) == pytest.approx(scipy.stats.t.ppf(0.995, df), rel=1e-9)


def test_mean_and_interval_are_scipys():
    values = [0.5461, 0.6122, 0.5798, 0.5]
    mean, low, high, n = mean_interval([*values, None])  # a run without the value is left out
    expected = scipy.stats.t.interval(
        0.95, len(values) - 1, loc=np.mean(values), scale=scipy.stats.sem(values)
    )
    assert n == 4 and mean == pytest.approx(np.mean(values), rel=1e-15)
    assert (low, high) == pytest.approx(expected, rel=1e-9)
    assert mean_interval([0.7]) == (0.7, None, None, 1)
    assert mean_interval([]) == (None, None, None, 0)


def test_a_group_row_holds_every_seed_its_mean_and_interval(tmp_path):
    accuracies = (0.54, 0.61, 0.58)
    three_seeds(tmp_path, accuracies, ode={"method": "dopri5", "rtol": 1e-3, "atol": 1e-4})
    (row,), runs, _ = comparison_tables(load_runs(tmp_path).runs, lambda run: 0.6)
    a = np.array(accuracies)
    low, high = scipy.stats.t.interval(0.95, 2, loc=a.mean(), scale=scipy.stats.sem(a))
    assert row["test_accuracy_per_seed"] == [(1, 0.54), (2, 0.61), (3, 0.58)]
    assert row["n"] == 3 and row["test_accuracy_mean"] == pytest.approx(a.mean())
    assert (row["ci95_low"], row["ci95_high"]) == pytest.approx((low, high))
    assert row["test_loss_mean"] == pytest.approx((1 - a).mean())
    assert row["train_accuracy_inference_mean"] == pytest.approx((a + 0.05).mean())
    assert row["majority_share"] == 0.6 and row["constant_seeds"] == []
    assert row["solver"] == "dopri5 rtol=0.001 atol=0.0001"
    assert row["commit"] == "1111111 / 2222222 / 3333333"
    assert (row["model"], row["epochs"], row["report"]) == ("dense", 4, "54%")
    assert [(r["run"], r["train_seed"], r["test_accuracy"]) for r in runs] == [
        ("dense-r-real-e4", 1, 0.54),
        ("dense-r-real-e4-t2", 2, 0.61),
        ("dense-r-real-e4-t3", 3, 0.58),
    ]


def test_the_accuracy_interval_is_clipped_to_0_and_1(tmp_path):
    accuracies = (0.76, 0.86, 0.63)  # the t-interval's upper end lies above 1
    three_seeds(tmp_path, accuracies)
    (row,), *_ = comparison_tables(load_runs(tmp_path).runs, lambda run: 0.6)
    a = np.array(accuracies)
    low, high = scipy.stats.t.interval(0.95, 2, loc=a.mean(), scale=scipy.stats.sem(a))
    assert high > 1 and row["ci95_high"] == 1.0 and row["ci95_low"] == pytest.approx(low)


def test_paired_differences_match_scipys_paired_t_interval(tmp_path):
    first, second = (0.54, 0.61, 0.58), (0.60, 0.62, 0.66)
    three_seeds(tmp_path, first)
    for seed, accuracy in zip((1, 2, 3), second):
        suffix = "" if seed == 1 else f"-t{seed}"
        write_run(tmp_path, f"dense-corrected-real-e4{suffix}", preprocessing="corrected",
                  train_seed=seed, test_accuracy=accuracy)  # fmt: skip
    write_run(tmp_path, "resnet-r-real-e4", model="resnet")  # another model: not paired
    groups, _, (row,) = comparison_tables(load_runs(tmp_path).runs)
    d = np.array(first) - np.array(second)  # the "r" group sorts after "corrected"
    low, high = scipy.stats.t.interval(0.95, 2, loc=d.mean(), scale=scipy.stats.sem(d))
    assert (row["configuration"], row["minus"], row["n"]) == (
        "dense-r-real-e4", "dense-corrected-real-e4", 3)  # fmt: skip
    assert [s for s, _ in row["accuracy_difference_per_seed"]] == [1, 2, 3]
    assert row["accuracy_difference_mean"] == pytest.approx(d.mean())
    assert (row["ci95_low"], row["ci95_high"]) == pytest.approx((low, high))
    p, n = groups[0]["test_accuracy_mean"], groups[0]["n_test"]
    margin = scipy.stats.norm.ppf(0.975) * np.sqrt(p * (1 - p) / n)
    assert groups[0]["test_accuracy_binomial_margin"] == pytest.approx(margin, rel=1e-6)


def test_constant_classifiers_are_found_per_seed(tmp_path):
    three_seeds(tmp_path)
    path = tmp_path / "dense-r-real-e4-t2" / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["predicted_class_shares"] = {"0": 1.0}
    path.write_text(json.dumps(metrics))
    (row,), runs, _ = comparison_tables(load_runs(tmp_path).runs)
    assert row["constant_seeds"] == [2]
    assert [r["constant"] for r in runs] == [False, True, False]


def test_the_table_has_one_row_per_group_in_the_reports_order(tmp_path):
    three_seeds(tmp_path)
    write_run(tmp_path, "dense-corrected", preprocessing="corrected")
    write_run(tmp_path, "odenet", model="odenet")
    write_run(tmp_path, "resnet", model="resnet")
    groups, runs, _ = comparison_tables(load_runs(tmp_path).runs)
    assert [(g["model"], g["n"]) for g in groups] == [
        ("dense", 1),
        ("dense", 3),
        ("resnet", 1),
        ("odenet", 1),
    ]
    assert len(runs) == 6 and groups[2]["report"] == "over 98%" and groups[3]["report"] == "none"


# ---------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def tiny_json(tmp_path_factory):
    from reproduce.data import synthetic

    path = tmp_path_factory.mktemp("data") / "train.json"
    path.write_text(json.dumps(synthetic.synthetic_train(n=60, seed=7)))
    return path


@pytest.mark.slow  # about 12 s on 2 cores
def test_train_seeds_trains_one_run_per_seed_on_the_same_split(
    tiny_json, tmp_path, monkeypatch, capsys
):
    import keras

    import reproduce.__main__
    from reproduce import data, preprocess

    argv = [
        "dense",
        "--train-seeds",
        "2",
        "3",
        "--data",
        str(tiny_json),
        "--out",
        str(tmp_path),
        "--epochs",
        "1",
        "--limit-train",
        "32",
        "--limit-test",
        "8",
        "--verbose",
        "0",
        "--eager",
    ]
    monkeypatch.setattr(sys, "argv", [reproduce.__main__.__file__, *argv])
    assert cli.main(argv) == 0
    names = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert names == ["dense-r-real-e1-n32x8-t2", "dense-r-real-e1-n32x8-t3"]

    # The split R's set.seed(1) draws, recomputed here, scores each saved model as recorded.
    frame, _ = data.resolve_data(str(tiny_json))
    x, y = preprocess.dense_inputs(frame, preprocessing="r")
    train_idx, test_idx = preprocess.report_split(len(x), seed=1, kind=settings.SAMPLE_KIND)
    x_train, x_test = preprocess.scale_dense(x[train_idx[:32]], x[test_idx[:8]], "r")
    kernels = []
    for name, seed in zip(names, (2, 3)):
        metrics = json.loads((tmp_path / name / "metrics.json").read_text())
        assert (metrics["seed"], metrics["train_seed"], metrics["status"]) == (1, seed, "finished")
        model = keras.saving.load_model(tmp_path / name / "model.keras")
        loss, _ = model.evaluate(
            np.asarray(x_test, "float32"), y[test_idx[:8]].astype("float32"), verbose=0
        )
        assert loss == pytest.approx(metrics["test_loss"], rel=1e-5)
        kernels.append(model.layers[1].get_weights()[0])
    assert kernels[0].shape == kernels[1].shape and not np.allclose(kernels[0], kernels[1])

    # Rerunning the command skips the finished seeds instead of refusing them.
    assert cli.main(argv) == 0
    assert capsys.readouterr().out.count("already holds a finished run") == 2
