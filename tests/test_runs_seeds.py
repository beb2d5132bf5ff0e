"""Several training seeds: run names, seed groups, mean ± sd in the comparison, Figures 4/7.

Run folders are written here with the keys of the run-folder contract; the
statistics are checked against NumPy's, the end-to-end run against the data
split recomputed from R's sampler.
"""

from __future__ import annotations

import json
import sys

import _fake_runs as fake_runs
import numpy as np
import pytest

from reproduce import cli, settings
from reproduce.commands import train
from reproduce.comparison import (
    TABLE_HEADER,
    comparison_rows,
    curve_groups,
    group_row,
    load_runs,
    mean_sd,
    seed_groups,
    seed_notes,
)
from reproduce.errors import ReproduceError

TEST_ACCURACY = TABLE_HEADER.index("test accuracy")
PER_SEED = TABLE_HEADER.index("per training seed: test accuracy")
TEST_LOSS = TABLE_HEADER.index("test loss")
TRAIN_INFERENCE = TABLE_HEADER.index("train accuracy (inference)")


#: What the seed tests' runs change in the shared fake run: a short run with
#: every setting a seed group compares recorded.
SEED_RUN = {
    "epochs": 4,
    "epochs_planned": 4,
    "train_seed": 1,
    "semantics": "keras22",
    "sample_kind": "Rounding",
    "limit_train": None,
    "limit_test": None,
    "train_accuracy_inference": 0.56,
    "predicted_class_shares": {"0": 0.4, "1": 0.6},
    "params": 769_793,
    "wall_time_s": 30.0,
    "data": {"kind": "real", "path": "/a/train.json", "sha256": "ab" * 32, "n_records": 1604},
    "hardware": "test CPU",
}


def write_run(root, name, **overrides):
    """A finished dense run on real data with the contract's keys, and its history."""
    return fake_runs.write_run(root, name, **{**SEED_RUN, **overrides})


def three_seeds(root, accuracies=(0.54, 0.61, 0.58), **overrides):
    """Seeds 1, 2, 3 of one setting: what `dense --train-seeds 1 2 3` leaves behind."""
    for seed, accuracy in zip((1, 2, 3), accuracies):
        name = "dense-r-real-e4" + ("" if seed == 1 else f"-t{seed}")
        write_run(
            root,
            name,
            train_seed=seed,
            test_accuracy=accuracy,
            test_loss=1.0 - accuracy,
            train_accuracy=accuracy + 0.1,
            train_accuracy_inference=accuracy + 0.05,
            # what differs between seeds besides the seed: timing and provenance
            wall_time_s=30.0 + seed,
            date=f"2025-01-0{seed}T00:00:00Z",
            git_commit=str(seed) * 40,
            hardware=f"machine {seed}",
            argv=["dense", "--train-seeds", "1", "2", "3"],
            data={"kind": "real", "path": f"/{seed}/train.json", "sha256": "ab" * 32},
            **overrides,
        )


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
    (group,) = seed_groups(load_runs(tmp_path).runs)
    assert group.n == 3 and group.train_seeds == [1, 2, 3]
    assert group.name == "dense-r-real-e4"


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
        {"data": {"kind": "real", "sha256": "cd" * 32}},
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


# ---------------------------------------------------------------- mean ± sd


def test_mean_and_sd_are_numpys_sample_statistics():
    values = [0.5461, 0.6122, 0.5798, 0.5]
    mean, sd, n = mean_sd([*values, None])  # a run without the value is left out
    assert n == 4
    assert mean == pytest.approx(np.mean(values), rel=1e-15)
    assert sd == pytest.approx(np.std(values, ddof=1), rel=1e-14)
    assert mean_sd([0.7]) == (0.7, None, 1) and mean_sd([]) == (None, None, 0)


def test_a_group_row_shows_mean_sd_n_and_every_seed(tmp_path):
    accuracies = (0.54, 0.61, 0.58)
    three_seeds(tmp_path, accuracies)
    row = group_row(seed_groups(load_runs(tmp_path).runs)[0])
    a = np.array(accuracies)
    assert (
        row[TEST_ACCURACY]
        == (f"{a.mean() * 100:.1f} ± {a.std(ddof=1) * 100:.1f} % (n=3)")
        == "57.7 ± 3.5 % (n=3)"
    )
    loss = 1.0 - a
    assert row[TEST_LOSS] == f"{loss.mean():.3f} ± {loss.std(ddof=1):.3f} (n=3)"
    assert (
        row[TRAIN_INFERENCE] == f"{(a + 0.05).mean() * 100:.1f} ± {a.std(ddof=1) * 100:.1f} % (n=3)"
    )
    assert row[PER_SEED] == "1: 54.0%, 2: 61.0%, 3: 58.0%"
    assert row[0] == "`dense-r-real-e4`, `dense-r-real-e4-t2`, `dense-r-real-e4-t3`"
    assert "constant" not in row[TEST_ACCURACY]


def test_a_group_whose_every_seed_predicts_one_class_is_named_constant(tmp_path):
    three_seeds(tmp_path, predicted_class_shares={"0": 0.0, "1": 1.0})
    row = group_row(seed_groups(load_runs(tmp_path).runs)[0])
    assert row[TEST_ACCURACY].endswith("(n=3); constant (3/3 seeds)")
    assert any("constant:" in note for note in seed_notes(load_runs(tmp_path).runs))


def test_a_group_with_some_constant_seeds_says_how_many(tmp_path):
    three_seeds(tmp_path)
    path = tmp_path / "dense-r-real-e4-t2" / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["predicted_class_shares"] = {"0": 1.0}
    path.write_text(json.dumps(metrics))
    row = group_row(seed_groups(load_runs(tmp_path).runs)[0])
    assert row[TEST_ACCURACY].endswith("; constant in 1/3 seeds")


# ---------------------------------------------------------------- notes


def test_the_notes_call_a_match_what_it_is(tmp_path):
    three_seeds(tmp_path / "spread", accuracies=(0.52, 0.56, 0.55))  # 54% inside 52-56
    notes = " ".join(seed_notes(load_runs(tmp_path / "spread").runs))
    assert "lies within the spread of the 3 seeds of `dense-r-real-e4` (52.0% to 56.0%)" in notes
    assert "consistent with it" in notes and "n=1" not in notes

    three_seeds(tmp_path / "outside", accuracies=(0.60, 0.62, 0.61))
    notes = " ".join(seed_notes(load_runs(tmp_path / "outside").runs))
    assert "report's 54%" not in notes  # no match to name

    write_run(tmp_path / "one", "dense-one", test_accuracy=0.55)  # one seed, within 2 SE
    notes = " ".join(seed_notes(load_runs(tmp_path / "one").runs))
    assert "single training seed: chance not excluded" in notes
    assert "n=1 (`dense-one`): one training seed" in notes


def test_the_comparison_table_has_one_row_per_group(tmp_path):
    three_seeds(tmp_path)
    write_run(tmp_path, "dense-corrected", preprocessing="corrected")
    ours = [row for row in comparison_rows(load_runs(tmp_path).runs) if row[0].startswith("`")]
    assert [row[TEST_ACCURACY].split("(")[-1] for row in ours] == ["n=1)", "n=3)"]


def test_the_text_uses_the_seeds_mean_and_says_so(tmp_path):
    from reproduce.comparison import explain

    three_seeds(tmp_path, accuracies=(0.54, 0.61, 0.58))
    write_run(tmp_path, "resnet-r", model="resnet", test_accuracy=0.9, train_accuracy=0.99)
    text = " ".join(explain(load_runs(tmp_path).runs))
    assert "Only a r dense run exists (57.7% test accuracy)" in text  # (54 + 61 + 58) / 3
    assert "means over training seeds on one split: dense/r (3 seeds)" in text
    assert "One training seed only, so chance is not separated from the settings: resnet/r" in text


# ---------------------------------------------------------------- Figures 4/7


def test_figures_draw_every_seed_thin_and_their_mean_thick(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    from reproduce.figures import plot_curves_side_by_side

    three_seeds(tmp_path)
    drawn, real_plot = [], Axes.plot
    monkeypatch.setattr(
        Axes,
        "plot",
        lambda ax, *a, **k: drawn.append((ax.get_ylabel(), a, k)) or real_plot(ax, *a, **k),
    )
    groups = curve_groups(load_runs(tmp_path).runs)
    plot_curves_side_by_side(groups, tmp_path / "f.png")
    histories = [run.history for run in groups["dense"][0].runs]
    thin = [d for d in drawn if d[2].get("label") == "_seed"]
    assert len(thin) == 6 and all(d[2]["linewidth"] < 1 for d in thin)  # loss, accuracy x 3
    means = [
        d for d in drawn if d[2].get("label") == "dense-r-real-e4 (r), mean of 3 seeds, training"
    ]
    mean_loss = means[0]  # draw_history draws the loss panel first, then the accuracy
    expected = np.mean([h["loss"] for h in histories], axis=0)
    np.testing.assert_allclose(np.asarray(mean_loss[1][1], float), expected, rtol=1e-12)
    assert mean_loss[2]["linewidth"] > 2


# ---------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def tiny_json(tmp_path_factory):
    from reproduce.data import synthetic

    path = tmp_path_factory.mktemp("data") / "train.json"
    path.write_text(json.dumps(synthetic.synthetic_train(n=60, seed=7)))
    return path


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
