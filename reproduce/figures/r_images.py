"""Figure 3: the first 25 training images, drawn exactly as the dense script's R code draws them.

The script (report 7.1.2) plots its faithfully preprocessed images (pixels and
labels mismatched as in R) under ``par(mfcol = c(5, 5))`` (column-wise order),
after ``img <- t(apply(img, 2, rev))``, with ``image(1:75, 1:75, img, col =
gray((-44:0)/-44))``: :func:`r_rotate`, :func:`r_image_color_indices` and
:func:`draw_r_image` do what those R calls do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reproduce import report_claims
from reproduce.figures.canvas import pyplot, save_figure


def r_rotate(img: np.ndarray) -> np.ndarray:
    """R's ``t(apply(img, 2, rev))``.

    ``apply(img, 2, rev)`` reverses every column (so the row order flips) and
    returns the columns as columns; ``t`` transposes. Element ``[i, j]`` of the
    result is ``img[n - 1 - j, i]`` (0-based).
    """
    img = np.asarray(img)
    return img[::-1, :].T


def r_gray_palette(n: int = 45) -> list[str]:
    """R's ``gray((-(n-1):0)/-(n-1))``: ``n`` greys from white (level 1) to black (level 0).

    R's ``gray(level)`` writes each level as ``#RRGGBB`` with ``(int)(255 * level + 0.5)``.
    """
    levels = np.arange(-(n - 1), 1) / -(n - 1)
    return ["#{0:02X}{0:02X}{0:02X}".format(int(255 * level + 0.5)) for level in levels]


def r_image_color_indices(z: np.ndarray, n_colors: int = 45) -> np.ndarray:
    """Which colour R's ``image()`` gives each cell of ``z`` (0-based; -1 for none).

    ``image.default`` without ``breaks`` scales ``z`` to ``[0, 1]`` over
    ``zlim = range(z, finite = TRUE)`` and takes
    ``floor((nc - 1e-5) * z + 1e-7)``; cells outside ``[0, nc)`` (non-finite)
    get no colour. A constant image uses ``zlim = z0 +/- 0.4 |z0|`` (or -1, 1
    for zero), as R does.
    """
    z = np.asarray(z, dtype=np.float64)
    finite = np.isfinite(z)
    if not finite.any():
        return np.full(z.shape, -1, dtype=int)
    lo, hi = float(z[finite].min()), float(z[finite].max())
    if hi == lo:
        lo, hi = (-1.0, 1.0) if lo == 0 else (lo - 0.4 * abs(lo), lo + 0.4 * abs(lo))
    scaled = (z - lo) / (hi - lo)
    with np.errstate(invalid="ignore"):
        index = np.floor((n_colors - 1e-5) * scaled + 1e-7)
    index = np.where(finite & (index >= 0) & (index < n_colors), index, -1)
    return index.astype(int)


def draw_r_image(ax, z: np.ndarray, n_colors: int = 45):
    """Draw ``image(1:nx, 1:ny, z, col = gray((-44:0)/-44))`` on a matplotlib axes.

    R's ``image(x, y, z)`` paints ``z[i, j]`` in the cell centred at
    ``(x[i], y[j])``: the first index runs along the horizontal axis, the
    second up the vertical one, ``z[1, 1]`` at the bottom left. matplotlib's
    ``imshow(a, origin="lower")`` paints ``a[row, col]`` at ``(col, row)``, so
    it is given ``z.T``. With ``xaxs = 'i'`` the axes span exactly
    ``[0.5, nx + 0.5]``. Returns the ``AxesImage``.
    """
    from matplotlib.colors import ListedColormap

    nx, ny = z.shape
    index = np.ma.masked_less(r_image_color_indices(z, n_colors), 0)
    return ax.imshow(
        index.T,
        origin="lower",
        extent=(0.5, nx + 0.5, 0.5, ny + 0.5),
        cmap=ListedColormap(r_gray_palette(n_colors)),
        vmin=-0.5,
        vmax=n_colors - 0.5,
        interpolation="nearest",
        aspect="auto",
    )


def mfcol_position(i: int, nrow: int = 5) -> tuple[int, int]:
    """(row, column), 0-based, of the ``i``-th plot (0-based) under ``par(mfcol = c(nrow, .))``:
    R fills column by column."""
    return i % nrow, i // nrow


def r_plotted_training_images(frame, n: int = 25):
    """The first ``n`` images and labels the dense script plots, as R has them.

    Runs the dense script's faithful pipeline: :func:`reproduce.preprocess.dense_inputs`
    with ``preprocessing="r"`` (truncation: pixels and labels mismatched), the
    ``set.seed(1); sample(1:1604, 1300)`` split in R's sample order, and the
    scaling of ``train_iceberg``. Returns ``(images [n, 75, 75], labels [n])``:
    ``images[i]`` is R's ``train_iceberg[i + 1, , ]``.
    """
    from reproduce.preprocess import (
        default_n_train,
        dense_inputs,
        scale_dense,
        split_indices,
    )

    x, y = dense_inputs(frame, preprocessing="r")
    n_train = default_n_train(len(x))
    train_idx, test_idx = split_indices(len(x), n_train=n_train, seed=1, kind="Rounding")
    x_train, _ = scale_dense(x[train_idx], x[test_idx], "r")
    return np.asarray(x_train[:n]), np.asarray(y)[train_idx][:n]


def plot_image_grid(images, labels, out_png, data_label: str) -> Path:
    """Figure 3: the 5 x 5 grid of ``images`` drawn as the report's R code draws them.

    ``images[i]`` is R's ``train_iceberg[i + 1, , ]``; each is rotated with
    :func:`r_rotate` and drawn with :func:`draw_r_image` in the ``mfcol``
    position, titled ``iceberg_name[label + 1]``.
    """
    plt = pyplot()
    names = report_claims.CLASS_NAMES
    fig, axes = plt.subplots(5, 5, figsize=(9, 10.2))
    for i in range(25):
        row, col = mfcol_position(i)
        ax = axes[row, col]
        if i < len(images):
            draw_r_image(ax, r_rotate(images[i]))
            ax.set_title(names[int(labels[i])], fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        "Figure 3 (report 2.2.1): first 25 training images as the R code draws them\n"
        f"data: {data_label}; dense script's faithful preprocessing (pixels and labels mismatched)\n"
        "filled column by column (par(mfcol)), image(t(apply(img, 2, rev))), 45 greys: low = white",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return save_figure(fig, out_png)
