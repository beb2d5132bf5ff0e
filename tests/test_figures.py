"""``python -m reproduce figures``: each file is produced and the numbers behind it are right.

References we did not write: closed-form solutions (Figures 9 and 11), the
logistic equation's known equilibria (Figure 10), and real R for the image
rotation and the grey palette of Figure 3 (when ``Rscript`` is installed).
"""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from _fake_runs import three_seeds

from reproduce.figures import canvas, odes, r_images, report_curves, toy
from reproduce.runs import curve_groups, load_runs


def is_png(path) -> bool:
    return (
        path.is_file()
        and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        and path.stat().st_size > 5_000
    )


# ------------------------------------------------------------------ Figure 3


def displayed_position(axes_image, cell_value):
    """Data coordinates (x, y) of the displayed cell holding ``cell_value``."""
    shown = np.ma.filled(axes_image.get_array(), -1)
    rows, cols = np.nonzero(shown == cell_value)
    assert len(rows) == 1
    left, right, bottom, top = axes_image.get_extent()
    n_rows, n_cols = shown.shape
    # origin="lower": array row 0 is at the bottom.
    x = left + (cols[0] + 0.5) * (right - left) / n_cols
    y = bottom + (rows[0] + 0.5) * (top - bottom) / n_rows
    return x, y


@pytest.mark.parametrize("row, col", [(0, 0), (3, 60), (74, 10), (20, 74)])
def test_marker_pixel_lands_where_r_image_puts_it(row, col):
    """img[row, col] (0-based) is drawn by image(1:75, 1:75, t(apply(img, 2, rev))) at
    x = col + 1, y = 75 - row: R's rotation undoes image()'s transposed, bottom-up layout,
    so the picture appears as the matrix prints (row 1 at the top)."""
    plt = canvas.pyplot()
    img = np.zeros((75, 75))
    img[row, col] = 1.0
    rotated = r_images.r_rotate(img)
    assert rotated[col, 74 - row] == 1.0 and rotated.sum() == 1.0
    fig, ax = plt.subplots()
    shown = r_images.draw_r_image(ax, rotated)
    assert displayed_position(shown, 44) == (col + 1, 75 - row)  # the top colour: black
    plt.close(fig)


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R is not installed")
def test_rotation_and_palette_match_real_r():
    script = (
        "img <- matrix(0, 75, 75); img[4, 61] <- 1; img[70, 2] <- 2; "
        "m <- t(apply(img, 2, rev)); "
        "cat(which(m == 1, arr.ind = TRUE), which(m == 2, arr.ind = TRUE), '\\n'); "
        "cat(gray((-44:0)/-44), '\\n')"
    )
    out = subprocess.run(
        ["Rscript", "-e", script], capture_output=True, text=True, timeout=60, check=True
    )
    positions, palette = out.stdout.strip().split("\n")
    img = np.zeros((75, 75))
    img[3, 60], img[69, 1] = 1, 2
    rotated = r_images.r_rotate(img)
    ours = [int(i) + 1 for v in (1, 2) for i in np.argwhere(rotated == v)[0]]
    assert ours == [int(p) for p in positions.split()]
    assert r_images.r_gray_palette(45) == palette.split()


def test_colour_bins_follow_r_image_default():
    z = np.linspace(-3.0, 5.0, 91).reshape(7, 13)
    index = r_images.r_image_color_indices(z)
    assert index.min() == 0 and index.max() == 44  # extremes get the end colours
    assert np.all(np.diff(index.ravel()) >= 0)  # monotone in z
    assert np.bincount(index.ravel(), minlength=45).min() >= 2  # 45 equal-width bins, all used
    assert r_images.r_image_color_indices(np.full((2, 2), 7.0)).tolist() == [[22, 22], [22, 22]]


def test_mfcol_fills_column_by_column():
    assert [r_images.mfcol_position(i) for i in (0, 1, 4, 5, 24)] == [
        (0, 0),
        (1, 0),
        (4, 0),
        (0, 1),
        (4, 4),
    ]


# ------------------------------------------------------------------ Figures 9-11


def test_solution_curves_match_closed_form(tmp_path):
    curves = odes.solution_curves()
    exact = 3.0 - (3.0 - curves.y0[None, :]) * np.exp(-curves.x[:, None] / 2.0)
    tol = odes.SOLUTION_ATOL + odes.SOLUTION_RTOL * np.abs(exact)
    assert np.all(np.abs(curves.y - exact) <= tol)
    k2 = list(curves.y0).index(2.0)
    np.testing.assert_allclose(
        curves.y[:, k2], 3.0 - np.exp(-curves.x / 2.0), atol=1e-5
    )  # report eq. (29)
    assert is_png(odes.plot_solution_curves(curves, tmp_path / "fig09.png"))


def test_solution_curves_fail_loudly_on_a_wrong_solver(monkeypatch):
    import odelayers

    real = odelayers.odeint
    monkeypatch.setattr(odelayers, "odeint", lambda *a, **k: real(*a, **k) + 1e-4)
    with pytest.raises(RuntimeError, match="misses its tolerance"):
        odes.solution_curves()


def test_phase_portrait_equilibria_and_stability(tmp_path):
    r, k = 0.5, 10.0
    path, equilibria = odes.plot_phase_portrait(tmp_path / "fig10.png", r=r, k=k)
    assert is_png(path)
    assert [e.stability for e in equilibria] == ["unstable", "stable"]
    np.testing.assert_allclose([e.y for e in equilibria], [0.0, k], atol=1e-9)
    # A cubic with three known roots: stable at -1 and 2, unstable at 0.5 (f = -(y+1)(y-0.5)(y-2)).
    cubic = odes.phase_line(lambda y: -(y + 1) * (y - 0.5) * (y - 2), -3.0, 3.3)
    np.testing.assert_allclose([e.y for e in cubic], [-1.0, 0.5, 2.0], atol=1e-9)
    assert [e.stability for e in cubic] == ["stable", "unstable", "stable"]


def test_euler_table_is_computed_by_the_solver(tmp_path):
    table = odes.euler_table()
    assert table.columns.tolist() == ["Iteration", "x", "y", "dy/dx"]
    assert table["Iteration"].tolist() == [0, 1, 2, 3, 4]
    assert table["x"].tolist() == [0, 1, 2, 3, 4]
    assert table["y"].tolist() == [1, 2, 4, 8, 16]  # (1 + h)^n with h = 1
    assert table["dy/dx"].tolist() == table["y"].tolist()  # dy/dx = y
    markdown = odes.euler_table_markdown(table)
    assert "| 4 | 4 | 16 | 16 | 16 | 16 |" in markdown  # ours beside the report's
    assert is_png(odes.plot_euler(table, tmp_path / "fig11.png"))


# ------------------------------------------------------------------ Figure 3 from data


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """A 40-record train.json in Kaggle's schema (stand-in generator, another seed)."""
    from reproduce.data import write_train_json
    from reproduce.data.synthetic import synthetic_train

    path = tmp_path_factory.mktemp("data") / "train.json"
    sha = write_train_json(synthetic_train(40, seed=7), path)
    return path, sha


def test_grid_shows_the_images_r_plots(tiny_data):
    """R's train_iceberg[i, , ]: slice nums[i] of array(c(b1, b2, b1, b2, ...), c(75, 75, n)),
    i.e. band (k odd: band_1, k even: band_2) of record ceil(k/2), transposed by the
    column-major fill, divided by max |train|; labels of the records, not of the images."""
    from reproduce.data import load_train_json
    from reproduce.rcompat import r_sample

    path, _ = tiny_data
    frame = load_train_json(path)
    images, labels = r_images.r_plotted_training_images(frame)
    records = json.loads(path.read_text())
    nums = r_sample(40, round(40 * 1300 / 1604), 1, "Rounding")  # 1-based, R's draw order

    def r_slice(k):  # 1-based slice of the truncated array
        band = "band_1" if k % 2 == 1 else "band_2"
        return np.asarray(records[(k + 1) // 2 - 1][band]).reshape(75, 75).T

    expected = np.stack([r_slice(k) for k in nums])
    expected /= np.abs(expected).max()
    np.testing.assert_allclose(images, expected[:25], rtol=1e-6)
    assert labels.tolist() == [records[k - 1]["is_iceberg"] for k in nums[:25]]


# ------------------------------------------------------------------ Figures 4/7, 8 and the command


@pytest.fixture(scope="module")
def trained_toy():
    # 100 steps, not the figure's 80: after 80 the ODE's worst point (x = +-1) is
    # still 0.29-0.31 from the target under either dopri5 error norm, so the check
    # below would measure the training's progress at its bound rather than whether
    # the target was learned; after 100 it is 0.21 under both.
    return toy.train_toy_models(steps=100)


@pytest.mark.slow
def test_toy_models_are_trained(trained_toy, tmp_path):
    toy_result = trained_toy
    assert toy_result.resnet_loss[1] < 0.2 * toy_result.resnet_loss[0]
    assert toy_result.ode_loss[1] < 0.2 * toy_result.ode_loss[0]
    np.testing.assert_allclose(toy_result.resnet_states[0], toy_result.inputs)
    np.testing.assert_allclose(toy_result.ode_states[0], toy_result.inputs)
    # The drawn trajectory is the trained block's: it ends where the ODEBlock's output is.
    np.testing.assert_allclose(toy_result.ode_states[-1], toy_result.ode_outputs, atol=1e-3)
    # Both learned the target: 2 tanh(2x) at the drawn inputs.
    target = 2 * np.tanh(2 * toy_result.inputs)
    assert np.max(np.abs(toy_result.resnet_states[-1] - target)) < 0.3
    assert np.max(np.abs(toy_result.ode_states[-1] - target)) < 0.3
    assert is_png(toy.plot_trajectories(toy_result, tmp_path / "fig08.png"))


def write_history_run(root, name, model, epochs, status="finished"):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(
        json.dumps({"model": model, "preprocessing": "r", "status": status, "epochs": epochs})
    )
    pd.DataFrame(
        {
            "epoch": np.arange(1, epochs + 1),
            "loss": np.linspace(0.7, 0.3, epochs),
            "accuracy": np.linspace(0.5, 0.9, epochs),
        }
    ).to_csv(folder / "history.csv", index=False)


def drawn_toy():
    """A ToyResult of the right shapes, so the command test trains nothing."""
    inputs, times = np.linspace(-1, 1, 9), np.linspace(0, 4, 81)
    return toy.ToyResult(
        depth=4,
        inputs=inputs,
        resnet_depths=np.arange(5),
        resnet_states=np.outer(np.linspace(1, 2, 5), inputs),
        ode_times=times,
        ode_states=np.outer(np.linspace(1, 2, 81), inputs),
        ode_outputs=2 * inputs,
        resnet_loss=(1.0, 0.01),
        ode_loss=(1.0, 0.02),
        target=toy.TOY_TARGET,
    )


def test_figures_command_writes_every_file(tiny_data, tmp_path, monkeypatch):
    from reproduce import cli

    path, sha = tiny_data
    runs = tmp_path / "results"
    write_history_run(runs, "dense-short", "dense", 5)
    write_history_run(runs, "dense-long", "dense", 12)
    write_history_run(runs, "dense-unfinished", "dense", 30, status="interrupted")
    write_history_run(runs, "resnet", "resnet", 3)
    monkeypatch.setattr(toy, "train_toy_models", drawn_toy)
    out = tmp_path / "figs"
    assert cli.main(["figures", "--data", str(path), "--runs", str(runs), "--out", str(out)]) == 0
    names = [
        "fig03_images.png",
        "fig04_07_curves.png",
        "fig08_trajectories.png",
        "fig09_solution_curves.png",
        "fig10_phase_portrait.png",
        "fig11_euler.png",
    ]
    for name in names:
        assert is_png(out / name), name
    assert pd.read_csv(out / "euler_table.csv")["y"].tolist() == [1, 2, 4, 8, 16]
    manifest = {e["file"]: e for e in json.loads((out / "manifest.json").read_text())["files"]}
    assert set(manifest) == set(names) | {"euler_table.csv", "euler_table.md"}
    assert manifest["fig03_images.png"]["data"]["sha256"] == sha
    # Finished before unfinished, then the longest.
    assert [r["run"] for r in manifest["fig04_07_curves.png"]["runs"]["dense"]] == ["dense-long"]
    assert set(manifest["fig04_07_curves.png"]["runs"]) == {"dense", "resnet"}
    entry = manifest["fig10_phase_portrait.png"]
    assert [e["stability"] for e in entry["equilibria"]] == ["unstable", "stable"]
    assert entry["command"].startswith("python -m reproduce figures")
    assert entry["versions"]["numpy"] == np.__version__ and entry["date"].endswith("Z")
    assert load_runs(runs).runs  # the run folders are untouched and still readable


def drawn_lines(monkeypatch, draw):
    """Call ``draw()`` and return the lines of every figure it saved: {(axes title or
    y label, line label): (x, y)}, read back from the matplotlib axes."""
    from matplotlib.figure import Figure

    saved, real_savefig = [], Figure.savefig

    def capture(figure, *args, **kwargs):
        saved.append(figure)
        return real_savefig(figure, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", capture)
    draw()
    assert saved, "nothing was saved"
    return {
        (ax.get_ylabel(), line.get_label()): (
            np.asarray(line.get_xdata(), float),
            np.asarray(line.get_ydata(), float),
        )
        for figure in saved
        for ax in figure.axes
        for line in ax.get_lines()
    }


def test_figures_4_7_draw_the_history_values(tmp_path, monkeypatch):
    """Every column of history.csv is drawn as recorded, accuracy also under Keras' older
    name ``acc``, the per-epoch test scores included."""
    runs = tmp_path / "results"
    write_history_run(runs, "dense-r", "dense", 4)
    history_path = runs / "dense-r" / "history.csv"
    history = pd.read_csv(history_path).rename(columns={"accuracy": "acc"})
    history["val_loss"], history["val_acc"] = history["loss"] + 0.1, history["acc"] - 0.1
    history["test_loss"], history["test_accuracy"] = [0.9, 0.8, 0.75, 0.7], [0.5, 0.55, 0.6, 0.6]
    history.to_csv(history_path, index=False)
    lines = drawn_lines(
        monkeypatch,
        lambda: report_curves.plot_curves(curve_groups(load_runs(runs).runs), tmp_path / "f.png"),
    )
    loss, accuracy = report_curves.LOSS_LABEL, report_curves.ACCURACY_LABEL
    for column, axis, what in [
        ("loss", loss, "training"),
        ("val_loss", loss, "validation"),
        ("test_loss", loss, "test (inference mode)"),
        ("acc", accuracy, "training"),
        ("val_acc", accuracy, "validation"),
        ("test_accuracy", accuracy, "test (inference mode)"),
    ]:
        x, y = lines[(axis, f"dense-r, {what}")]
        np.testing.assert_array_equal(x, history["epoch"])
        np.testing.assert_array_equal(y, history[column])


@pytest.mark.slow  # among the slowest: the default selection stays under 8 minutes on 2 cores
def test_figures_4_7_give_every_panel_its_own_y_scale(tmp_path, monkeypatch):
    """A CNN loss twenty times the dense network's must not flatten the dense curve."""
    from matplotlib.figure import Figure

    runs = tmp_path / "results"
    write_history_run(runs, "dense-r", "dense", 5)
    write_history_run(runs, "resnet-r", "resnet", 5)
    history_path = runs / "resnet-r" / "history.csv"
    history = pd.read_csv(history_path)
    history["loss"] *= 20
    history.to_csv(history_path, index=False)
    saved, real_savefig = [], Figure.savefig
    monkeypatch.setattr(
        Figure, "savefig", lambda fig, *a, **k: saved.append(fig) or real_savefig(fig, *a, **k)
    )
    report_curves.plot_curves(curve_groups(load_runs(runs).runs), tmp_path / "f.png")
    axes = np.asarray(saved[0].axes[:6]).reshape(2, 3)
    dense_low, dense_high = axes[0, 0].get_ylim()
    assert dense_high < 1.0 and dense_low > 0.2  # dense losses run 0.7 -> 0.3
    assert axes[0, 1].get_ylim()[1] >= history["loss"].max()
    assert all(ax.get_yticklabels()[0].get_visible() for ax in axes.ravel())


def test_figures_4_7_draw_every_seed_thin_and_their_mean_thick(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    three_seeds(tmp_path)
    drawn, real_plot = [], Axes.plot
    monkeypatch.setattr(
        Axes,
        "plot",
        lambda ax, *a, **k: drawn.append((ax.get_ylabel(), a, k)) or real_plot(ax, *a, **k),
    )
    groups = curve_groups(load_runs(tmp_path).runs)
    report_curves.plot_curves(groups, tmp_path / "f.png")
    histories = [run.history for run in groups["dense"][0].runs]
    thin = [d for d in drawn if d[2].get("label") == "_seed"]
    assert len(thin) == 6 and all(d[2]["lw"] < 1 for d in thin)  # loss, accuracy x 3 seeds
    means = [d for d in drawn if d[2].get("label") == "dense-r-real-e4, mean of 3, training"]
    mean_loss = means[0]  # the loss column is drawn before the accuracy
    expected = np.mean([h["loss"] for h in histories], axis=0)
    np.testing.assert_allclose(np.asarray(mean_loss[1][1], float), expected, rtol=1e-12)
    assert mean_loss[2]["lw"] > 2


@pytest.mark.parametrize("only, named", [(("",), "''"), (("fig99",), "'fig99'")])
def test_an_unknown_figure_is_named_with_the_choices(only, named, tmp_path):
    from reproduce.errors import ReproduceError
    from reproduce.figures import make_figures

    with pytest.raises(ReproduceError, match=f"unknown figure.s. {named}; choose from fig03"):
        make_figures(None, tmp_path, tmp_path / "out", only=only)
    assert not (tmp_path / "out").exists()
