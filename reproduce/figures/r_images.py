"""Figure 3: the first 25 training images, drawn as the dense script's R code (report 7.1.2)
draws them: ``par(mfcol = c(5, 5))``, ``img <- t(apply(img, 2, rev))`` and
``image(1:75, 1:75, img, col = gray((-44:0)/-44))``."""

from pathlib import Path

import numpy as np

from reproduce import report_claims
from reproduce.figures.canvas import pyplot, save_figure


def r_rotate(img: np.ndarray) -> np.ndarray:
    """R's ``t(apply(img, 2, rev))``: element ``[i, j]`` is ``img[n - 1 - j, i]``."""
    return np.asarray(img)[::-1, :].T


def r_gray_palette(n: int = 45) -> list[str]:
    """R's ``gray((-(n-1):0)/-(n-1))``, white to black, as R writes it: ``(int)(255 level + 0.5)``."""
    levels = np.arange(-(n - 1), 1) / -(n - 1)
    return ["#{0:02X}{0:02X}{0:02X}".format(int(255 * level + 0.5)) for level in levels]


def r_image_color_indices(z: np.ndarray, n_colors: int = 45) -> np.ndarray:
    """The colour R's ``image()`` gives each cell (0-based; -1 for none): ``image.default``
    scales ``z`` to [0, 1] over its finite range and takes ``floor((nc - 1e-5) z + 1e-7)``; a
    constant image uses ``z0 +/- 0.4 |z0|`` (-1, 1 for 0)."""
    z = np.asarray(z, dtype=np.float64)
    finite = np.isfinite(z)
    if not finite.any():
        return np.full(z.shape, -1, dtype=int)
    lo, hi = float(z[finite].min()), float(z[finite].max())
    if hi == lo:
        lo, hi = (-1.0, 1.0) if lo == 0 else (lo - 0.4 * abs(lo), lo + 0.4 * abs(lo))
    with np.errstate(invalid="ignore"):
        index = np.floor((n_colors - 1e-5) * (z - lo) / (hi - lo) + 1e-7)
    return np.where(finite & (index >= 0) & (index < n_colors), index, -1).astype(int)


def draw_r_image(ax, z: np.ndarray, n_colors: int = 45):
    """``image(1:nx, 1:ny, z, col = gray((-44:0)/-44))`` on matplotlib axes; the AxesImage.
    R paints ``z[i, j]`` at ``(x[i], y[j])`` (``z[1, 1]`` bottom left), ``imshow(a,
    origin="lower")`` ``a[row, col]`` at ``(col, row)``: so ``z.T``."""
    from matplotlib.colors import ListedColormap

    nx, ny = z.shape
    index = np.ma.masked_less(r_image_color_indices(z, n_colors), 0)
    return ax.imshow(index.T, origin="lower", extent=(0.5, nx + 0.5, 0.5, ny + 0.5),
                     cmap=ListedColormap(r_gray_palette(n_colors)), vmin=-0.5,
                     vmax=n_colors - 0.5, interpolation="nearest", aspect="auto")  # fmt: skip


def mfcol_position(i: int, nrow: int = 5) -> tuple[int, int]:
    """(row, column) of the ``i``-th plot under ``par(mfcol = c(nrow, .))``: column by column."""
    return i % nrow, i // nrow


def r_plotted_training_images(frame, n: int = 25):
    """``(images [n, 75, 75], labels [n])``: R's ``train_iceberg[i, , ]`` for the first ``n``,
    through the dense script's faithful preprocessing (pixels and labels mismatched), the
    ``set.seed(1); sample(1:1604, 1300)`` split in R's draw order and its scaling."""
    from reproduce.preprocess import dense_inputs, report_split, scale_dense

    x, y = dense_inputs(frame, preprocessing="r")
    train_idx, test_idx = report_split(len(x), seed=1, kind="Rounding")
    x_train, _ = scale_dense(x[train_idx], x[test_idx], "r")
    return np.asarray(x_train[:n]), np.asarray(y)[train_idx][:n]


def plot_image_grid(images, labels, out_png, data_label: str) -> Path:
    """Figure 3: the 5 x 5 grid in ``mfcol`` order, titled ``iceberg_name[label + 1]``."""
    fig, axes = pyplot().subplots(5, 5, figsize=(9, 10.2))
    for i in range(25):
        ax = axes[mfcol_position(i)]
        if i < len(images):
            draw_r_image(ax, r_rotate(images[i]))
            ax.set_title(report_claims.CLASS_NAMES[int(labels[i])], fontsize=9)
        ax.set(xticks=[], yticks=[])
    title = ("Figure 3 (report 2.2.1): first 25 training images as the R code draws them\n"
             f"data: {data_label}; dense script's faithful preprocessing (pixels and labels "
             "mismatched)\nfilled column by column (par(mfcol)), image(t(apply(img, 2, rev))), "
             "45 greys: low = white")  # fmt: skip
    return save_figure(fig, out_png, title, fontsize=10, top=0.93)
