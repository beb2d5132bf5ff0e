"""The report's figures 3-11, regenerated (``python -m reproduce figures``).

Every figure is computed, never drawn by hand:

* ``fig03_images.png`` -- the first 25 training images exactly as the dense
  script (report 7.1.2) plots them: its faithful preprocessing (pixels and
  labels mismatched as in R), ``par(mfcol = c(5, 5))`` column-wise order,
  ``img <- t(apply(img, 2, rev))`` and ``image(1:75, 1:75, img, col =
  gray((-44:0)/-44))`` (:mod:`~reproduce.figures.r_images`).
* ``fig04_07_curves.png`` -- loss and accuracy per epoch of the three models,
  from the run folders' histories (:mod:`~reproduce.figures.curves`).
* ``fig08_trajectories.png`` -- hidden states of a small weight-tied residual
  network (integer depths only) and of a Neural ODE with the same dynamics (a
  continuous trajectory), both trained here in seconds (:mod:`~reproduce.figures.toy`).
* ``fig09_solution_curves.png`` -- dy/dx + y/2 = 3/2 solved by
  :func:`odelayers.odeint` and checked against 3 - (3 - y0) exp(-x/2).
* ``fig10_phase_portrait.png`` -- the logistic equation's phase portrait with
  equilibria found numerically and classified (:func:`~reproduce.figures.odes.phase_line`).
* ``fig11_euler.png``, ``euler_table.csv``, ``euler_table.md`` -- Euler's
  method with step 1 for dy/dx = y, from ``odeint(method="euler")``
  (Figures 9-11: :mod:`~reproduce.figures.odes`).

``manifest.json`` beside them lists, per file, the command, the data (for
Figure 3), the runs (for Figures 4 and 7), versions and the
date (:mod:`~reproduce.figures.make`).
"""

from reproduce.figures.canvas import FIGURE_DPI, pyplot, save_figure
from reproduce.figures.curves import PREPROCESSING_COLORS, plot_curves_side_by_side
from reproduce.figures.make import FIGURE_KEYS, data_label, make_figures
from reproduce.figures.odes import (
    EULER_COLUMNS,
    LOGISTIC_K,
    LOGISTIC_R,
    SOLUTION_ATOL,
    SOLUTION_RTOL,
    SOLUTION_Y0,
    Equilibrium,
    SolutionCurves,
    euler_table,
    euler_table_markdown,
    logistic_rate,
    phase_line,
    plot_euler,
    plot_phase_portrait,
    plot_solution_curves,
    solution_curves,
)
from reproduce.figures.r_images import (
    draw_r_image,
    mfcol_position,
    plot_image_grid,
    r_gray_palette,
    r_image_color_indices,
    r_plotted_training_images,
    r_rotate,
)
from reproduce.figures.toy import (
    TOY_ATOL,
    TOY_RTOL,
    TOY_TARGET,
    ToyResult,
    plot_trajectories,
    train_toy_models,
)

__all__ = [
    "EULER_COLUMNS",
    "FIGURE_DPI",
    "FIGURE_KEYS",
    "LOGISTIC_K",
    "LOGISTIC_R",
    "PREPROCESSING_COLORS",
    "SOLUTION_ATOL",
    "SOLUTION_RTOL",
    "SOLUTION_Y0",
    "TOY_ATOL",
    "TOY_RTOL",
    "TOY_TARGET",
    "Equilibrium",
    "SolutionCurves",
    "ToyResult",
    "data_label",
    "draw_r_image",
    "euler_table",
    "euler_table_markdown",
    "logistic_rate",
    "make_figures",
    "mfcol_position",
    "phase_line",
    "plot_curves_side_by_side",
    "plot_euler",
    "plot_image_grid",
    "plot_phase_portrait",
    "plot_solution_curves",
    "plot_trajectories",
    "pyplot",
    "r_gray_palette",
    "r_image_color_indices",
    "r_plotted_training_images",
    "r_rotate",
    "save_figure",
    "solution_curves",
    "train_toy_models",
]
