"""``python -m reproduce figures``: the report's figures 3-11, regenerated.

Every figure is computed, never drawn by hand:

* ``fig03_images.png`` -- the first 25 training images exactly as the dense
  script (report 7.1.2) plots them: its faithful preprocessing (pixels and
  labels mismatched as in R), ``par(mfcol = c(5, 5))`` column-wise order,
  ``img <- t(apply(img, 2, rev))`` and ``image(1:75, 1:75, img, col =
  gray((-44:0)/-44))`` (:func:`r_rotate`, :func:`r_image_color_indices`,
  :func:`draw_r_image`).
* ``fig04_07_curves.png`` -- loss and accuracy per epoch of the three models,
  from the run folders' ``history.csv``.
* ``fig08_trajectories.png`` -- hidden states of a small weight-tied residual
  network (integer depths only) and of a Neural ODE with the same dynamics (a
  continuous trajectory), both trained here in seconds (:func:`train_toy_models`).
* ``fig09_solution_curves.png`` -- dy/dx + y/2 = 3/2 solved by
  :func:`odelayers.odeint` and checked against 3 - (3 - y0) exp(-x/2).
* ``fig10_phase_portrait.png`` -- the logistic equation's phase portrait with
  equilibria found numerically and classified (:func:`phase_line`).
* ``fig11_euler.png``, ``euler_table.csv``, ``euler_table.md`` -- Euler's
  method with step 1 for dy/dx = y, from ``odeint(method="euler")``.

``manifest.json`` beside them lists, per file, the command, the data (for
Figure 3), the runs (for Figures 4 and 7), versions and the date.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reproduce import report_claims
from reproduce.engine import provenance
from reproduce.engine.atomic import atomic_path, atomic_write_text
from reproduce.errors import ReproduceError

FIGURE_DPI = 120
#: What ``--only`` accepts, in the report's order.
FIGURE_KEYS = ("fig03", "fig04_07", "fig08", "fig09", "fig10", "fig11")


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


# --------------------------------------------------------------------------- Figure 3


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
    from reproduce.preprocess import default_n_train, dense_inputs, scale_dense, split_indices

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
    plt = _pyplot()
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
    return _save(fig, out_png)


# --------------------------------------------------------------------------- Figures 4 and 7


PREPROCESSING_COLORS = {"r": "C0", "corrected": "C2"}


def plot_curves_side_by_side(runs_by_model, out_png, r_history=None, r_model: str = "dense", r_label: str = "") -> Path:
    """Figures 4 and 7: loss (top) and accuracy (bottom) per epoch, one column per model.

    Args:
        runs_by_model: ``{"dense"|"resnet"|"odenet": [reproduce.compare.Run, ...]}``
            (see :func:`reproduce.compare.curve_runs`): each run is drawn, faithful
            preprocessing in blue, corrected in green; a model without runs leaves
            an empty column, named in the title.
        out_png: file to write.
        r_history: an R keras history (:func:`reproduce.compare.read_r_history`),
            drawn in red in the ``r_model`` column.
        r_label: how to name the R history in the legend.
    """
    from matplotlib.ticker import MaxNLocator

    from reproduce.compare import MODEL_ORDER, MODEL_TITLES

    plt = _pyplot()
    fig, axes = plt.subplots(2, 3, figsize=(15, 8), sharex="col")
    missing = []
    for col, model in enumerate(MODEL_ORDER):
        loss_ax, acc_ax = axes[0, col], axes[1, col]
        runs = runs_by_model.get(model) or []
        r_here = r_history is not None and model == r_model
        if not runs and not r_here:
            missing.append(model)
            for ax in (loss_ax, acc_ax):
                ax.text(0.5, 0.5, "no run", ha="center", va="center", transform=ax.transAxes, color="gray")
        subtitle = []
        for run in runs:
            history = run.history
            epochs = history["epoch"] if "epoch" in history.columns else np.arange(1, len(history) + 1)
            color = PREPROCESSING_COLORS.get(run.preprocessing, "C4")
            for key, ax in (("loss", loss_ax), ("accuracy", acc_ax)):
                for prefix, style, name in (("", "-", "training"), ("val_", "--", "validation")):
                    if prefix + key in history.columns:
                        ax.plot(epochs, history[prefix + key], style, color=color,
                                label=f"{run.name} ({run.preprocessing}), {name}")
            subtitle.append(f"{run.name}: {run.get('status', '?')}, {run.get('epochs', '?')} epochs")
        if r_here:
            for key, ax in (("loss", loss_ax), ("accuracy", acc_ax)):
                for prefix, style, name in (("", "-.", "training"), ("val_", ":", "validation")):
                    if prefix + key in r_history.columns:
                        ax.plot(r_history["epoch"], r_history[prefix + key], style, color="C3",
                                label=f"R keras {r_label}, {name}")
        loss_ax.set_title("\n".join([MODEL_TITLES[model]] + subtitle), fontsize=9)
        loss_ax.set_ylabel("loss (binary cross-entropy)")
        acc_ax.set_ylabel("accuracy")
        acc_ax.set_xlabel("epoch")
        for ax in (loss_ax, acc_ax):
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
    suptitle = ("Figures 4 and 7 (report 2.2.3, 3.2): loss and accuracy per epoch from the runs' history.csv "
                "(blue: faithful R preprocessing, green: corrected)")
    if missing:
        suptitle += f"\nno run found for: {', '.join(missing)}"
    fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.93 if missing else 0.95))
    return _save(fig, out_png)


# --------------------------------------------------------------------------- Figure 8


@dataclass
class ToyResult:
    """What :func:`train_toy_models` trained and measured.

    Attributes:
        depth: number of residual blocks = the ODE's integration time.
        inputs: the inputs whose trajectories are drawn, shape [k].
        resnet_depths: 0..depth; ``resnet_states`` [depth + 1, k] the residual
            network's hidden states there.
        ode_times: dense times in [0, depth]; ``ode_states`` [len, k] the Neural
            ODE's hidden state along them; ``ode_outputs`` [k] the trained
            ``ODEBlock``'s own outputs for the inputs (the trajectory's end).
        resnet_loss, ode_loss: training loss before and after training.
        target: the function learned, as text.
    """

    depth: int
    inputs: np.ndarray
    resnet_depths: np.ndarray
    resnet_states: np.ndarray
    ode_times: np.ndarray
    ode_states: np.ndarray
    ode_outputs: np.ndarray
    resnet_loss: tuple[float, float]
    ode_loss: tuple[float, float]
    target: str


TOY_TARGET = "y = 2 tanh(2x)"
#: Solver tolerances of the toy Neural ODE, in training and for the drawn trajectory alike.
TOY_RTOL, TOY_ATOL = 1e-3, 1e-4


def _toy_target(x):
    return 2.0 * np.tanh(2.0 * x)


def train_toy_models(depth: int = 4, steps: int = 80, seed: int = 0, n_points: int = 9) -> ToyResult:
    """Train a weight-tied residual network and a Neural ODE on a 1-D toy regression.

    Task: map x in [-1, 1] to ``2 tanh(2x)`` (points near 0 must be pushed apart,
    the others pulled together; monotone, so a 1-D ODE flow can do it). Both
    models share one architecture of dynamics ``f(h, t)`` (``ConcatDense`` 1 -> 16
    tanh -> 1, with t as an extra input):

    * the residual network applies ``h <- h + f(h, k)`` for k = 0..depth-1 (Euler
      with step 1: values exist only at integer depths);
    * the Neural ODE integrates ``dh/dt = f(h, t)`` from 0 to ``depth`` with dopri5.

    Each is trained separately (Adam, full batch of 64 points) for ``steps``
    steps. The trajectories of ``n_points`` inputs are then read off: the
    residual network's at its integer depths, the ODE's densely with
    :func:`odelayers.odeint` on 81 times.
    """
    from reproduce._quiet import quiet_tensorflow

    quiet_tensorflow()
    import keras
    import tensorflow as tf

    from odelayers import ODEBlock, odeint

    keras.utils.set_random_seed(seed)
    x = np.linspace(-1.0, 1.0, 64, dtype=np.float32)[:, None]
    y = _toy_target(x).astype(np.float32)

    make_dynamics = _toy_dynamics_class()
    resnet_dyn = make_dynamics()
    ode_dyn = make_dynamics()
    ode_block = ODEBlock(ode_dyn, t0=0.0, t1=float(depth), method="dopri5", rtol=TOY_RTOL, atol=TOY_ATOL,
                         gradient="adjoint")

    def resnet_forward(h):
        for k in range(depth):
            h = h + resnet_dyn(h, tf.constant(float(k)))
        return h

    resnet_loss = _fit_full_batch(resnet_forward, lambda: resnet_dyn.trainable_variables, x, y, steps, tf, keras)
    ode_loss = _fit_full_batch(ode_block, lambda: ode_block.trainable_variables, x, y, steps, tf, keras)

    inputs = np.linspace(-1.0, 1.0, n_points, dtype=np.float32)[:, None]
    states = [inputs]
    h = tf.constant(inputs)
    for k in range(depth):
        h = h + resnet_dyn(h, tf.constant(float(k)))
        states.append(h.numpy())
    resnet_states = np.concatenate(states, axis=1).T  # [depth + 1, k]

    times = np.linspace(0.0, float(depth), 81)
    trajectory = odeint(
        lambda t, h: ode_dyn(h, t),
        tf.constant(inputs),
        tf.constant(times, dtype=tf.float32),
        method="dopri5",
        rtol=TOY_RTOL,
        atol=TOY_ATOL,
    )
    ode_states = np.asarray(trajectory)[:, :, 0]
    ode_outputs = np.asarray(ode_block(tf.constant(inputs)))[:, 0]
    return ToyResult(
        depth=depth,
        inputs=inputs[:, 0],
        resnet_depths=np.arange(depth + 1),
        resnet_states=resnet_states,
        ode_times=times,
        ode_states=ode_states,
        ode_outputs=ode_outputs,
        resnet_loss=resnet_loss,
        ode_loss=ode_loss,
        target=TOY_TARGET,
    )


def _toy_dynamics_class():
    import keras

    from odelayers import ConcatDense

    class ToyDynamics(keras.layers.Layer):
        """f(h, t): ConcatDense(16, tanh) then ConcatDense(1); t enters both layers.

        The output layer starts at zero, so both models start as the identity
        (the usual initialisation of residual branches) and train smoothly.
        """

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = ConcatDense(16, activation="tanh")
            self.out = ConcatDense(1, kernel_initializer="zeros")

        def call(self, h, t):
            return self.out(self.hidden(h, t), t)

    return ToyDynamics


def _fit_full_batch(forward, variables, x, y, steps, tf, keras) -> tuple[float, float]:
    """Adam on the mean squared error, full batch, in a compiled step.

    Returns the loss of the first and of the last step (each measured before
    that step's update): computing them eagerly instead would cost an eager
    adaptive solve, much slower than the compiled one.
    """
    optimizer = keras.optimizers.Adam(learning_rate=0.05)
    xt, yt = tf.constant(x), tf.constant(y)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(forward(xt) - yt))
        grads = tape.gradient(loss, variables())
        optimizer.apply_gradients(zip(grads, variables()))
        return loss

    losses = [float(step()) for _ in range(steps)]
    return losses[0], losses[-1]


def plot_trajectories(result: ToyResult, out_png) -> Path:
    """Figure 8: residual network states at integer depths (points) beside the Neural
    ODE's continuous trajectories."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    colors = plt.cm.viridis(np.linspace(0, 1, len(result.inputs)))
    for k, color in enumerate(colors):
        left.plot(result.resnet_depths, result.resnet_states[:, k], color=color, lw=0.6, alpha=0.35)
        left.plot(result.resnet_depths, result.resnet_states[:, k], "o", color="red", ms=5)
        right.plot(result.ode_times, result.ode_states[:, k], color=color, lw=1.8)
    left.set_title(
        f"Residual network, {result.depth} weight-tied blocks h <- h + f(h, k)\n"
        f"states exist only at integer depths (red); MSE {result.resnet_loss[0]:.3f} -> {result.resnet_loss[1]:.4f}",
        fontsize=10,
    )
    right.set_title(
        f"Neural ODE dh/dt = f(h, t), t in [0, {result.depth}] (dopri5)\n"
        f"state defined at every depth; MSE {result.ode_loss[0]:.3f} -> {result.ode_loss[1]:.4f}",
        fontsize=10,
    )
    for ax in (left, right):
        ax.set_xlabel("depth / time t")
        ax.grid(alpha=0.3)
    left.set_ylabel("hidden state h")
    left.set_xticks(result.resnet_depths)
    fig.suptitle(
        f"Figure 8 (report 4.1.1): hidden-state trajectories of {len(result.inputs)} inputs in [-1, 1], "
        f"both models trained on {result.target}",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return _save(fig, out_png)


# --------------------------------------------------------------------------- Figure 9


SOLUTION_Y0 = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
SOLUTION_RTOL, SOLUTION_ATOL = 1e-6, 1e-8


@dataclass
class SolutionCurves:
    """dy/dx + y/2 = 3/2 solved for several y(0).

    Attributes:
        x: evaluation points; ``y0`` the initial conditions; ``y`` [len(x), len(y0)]
        the numerical solutions; ``exact`` the closed form there;
        ``max_error`` max |y - exact|; ``error_to_tolerance`` the largest ratio of
        |y - exact| to the bound ``atol + rtol |exact|`` (at most 1 when accepted).
    """

    x: np.ndarray
    y0: np.ndarray
    y: np.ndarray
    exact: np.ndarray
    max_error: float
    error_to_tolerance: float


def solution_curves(y0s=SOLUTION_Y0, x_end: float = 12.0, rtol: float = SOLUTION_RTOL, atol: float = SOLUTION_ATOL) -> SolutionCurves:
    """Solve dy/dx = (3 - y)/2 with :func:`odelayers.odeint` (dopri5) and check it.

    The closed form is ``y = 3 - (3 - y0) exp(-x/2)`` (the report's
    ``3 - exp(-x/2)`` for y0 = 2). The solution is accepted when every point
    satisfies ``|y - exact| <= atol + rtol * |exact|``, the bound the solver's
    error control aims at.

    Raises:
        RuntimeError: the solver misses that bound (a broken solver must not
            produce a plausible-looking figure).
    """
    from reproduce._quiet import quiet_tensorflow

    quiet_tensorflow()
    import tensorflow as tf

    from odelayers import odeint

    y0 = np.asarray(y0s, dtype=np.float64)
    x = np.linspace(0.0, x_end, 241)
    y = odeint(
        lambda t, y: (3.0 - y) / 2.0,
        tf.constant(y0, dtype=tf.float64),
        tf.constant(x, dtype=tf.float64),
        method="dopri5",
        rtol=rtol,
        atol=atol,
    )
    y = np.asarray(y)
    exact = 3.0 - (3.0 - y0[None, :]) * np.exp(-x[:, None] / 2.0)
    error = np.abs(y - exact)
    bound = atol + rtol * np.abs(exact)
    if not np.all(error <= bound):
        worst = np.unravel_index(np.argmax(error - bound), error.shape)
        raise RuntimeError(
            f"odeint misses its tolerance on dy/dx + y/2 = 3/2: |error| {error[worst]:.3g} > "
            f"atol + rtol |y| = {bound[worst]:.3g} at x = {x[worst[0]]:.3g}, y0 = {y0[worst[1]]:g}"
        )
    return SolutionCurves(x, y0, y, exact, float(error.max()), float(np.max(error / bound)))


def plot_solution_curves(curves: SolutionCurves, out_png) -> Path:
    """Figure 9: the solution curves, y(0) = 2 in sea green, the asymptote y = 3 dashed."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for k, y0 in enumerate(curves.y0):
        if y0 == 2.0:
            continue
        ax.plot(curves.x, curves.y[:, k], color="0.45", lw=1.2)
        ax.annotate(f"y(0) = {y0:g}", (curves.x[0], y0), xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize=8, color="0.3")
    k2 = int(np.flatnonzero(curves.y0 == 2.0)[0]) if np.any(curves.y0 == 2.0) else None
    if k2 is not None:
        ax.plot(curves.x, curves.y[:, k2], color=report_claims.SOLUTION_CURVES_HIGHLIGHT_COLOR, lw=2.8,
                label="y(0) = 2: y = 3 - exp(-x/2)")
    ax.axhline(3.0, color="black", ls="--", lw=1.2, label="asymptote y = 3 (dy/dx = 0)")
    ax.set_xlabel("x")
    ax.set_ylabel("y(x)")
    ax.set_xlim(curves.x[0], curves.x[-1])
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(
        "Figure 9 (report 7.3.1): solution curves of dy/dx + y/2 = 3/2\n"
        f"odelayers.odeint (dopri5); max |error| vs 3 - (3 - y0) exp(-x/2): {curves.max_error:.1e}",
        fontsize=11,
    )
    fig.tight_layout()
    return _save(fig, out_png)


# --------------------------------------------------------------------------- Figure 10


LOGISTIC_R, LOGISTIC_K = 0.5, 10.0


def logistic_rate(y, r: float = LOGISTIC_R, k: float = LOGISTIC_K):
    """dy/dt = r y (1 - y/K) (report equation 30)."""
    y = np.asarray(y, dtype=np.float64)
    return r * y * (1.0 - y / k)


@dataclass(frozen=True)
class Equilibrium:
    """A zero of dy/dt = f(y) and its stability ("stable", "unstable" or "semi-stable")."""

    y: float
    stability: str


def phase_line(f, y_min: float, y_max: float, n_grid: int = 4001) -> list[Equilibrium]:
    """Equilibria of dy/dt = f(y) on [y_min, y_max] and their stability, found numerically.

    Zeros are bracketed by sign changes of f on a grid (or hit exactly) and
    refined by bisection. Stability comes from the sign of f just either side:
    flow towards the point from both sides (f > 0 left, f < 0 right) is stable,
    away on both sides unstable, otherwise semi-stable.
    """
    grid = np.linspace(y_min, y_max, n_grid)
    values = f(grid)
    signs = np.sign(values)
    roots = []
    for i in range(n_grid):
        if signs[i] == 0:
            roots.append(float(grid[i]))
        elif i + 1 < n_grid and signs[i] * signs[i + 1] < 0:
            lo, hi = grid[i], grid[i + 1]
            for _ in range(200):
                mid = 0.5 * (lo + hi)
                if np.sign(f(mid)) == np.sign(f(lo)):
                    lo = mid
                else:
                    hi = mid
                if hi - lo < 1e-14 * max(1.0, abs(mid)):
                    break
            roots.append(float(0.5 * (lo + hi)))
    delta = (y_max - y_min) / (n_grid - 1) / 2
    equilibria = []
    for root in roots:
        left, right = float(f(root - delta)), float(f(root + delta))
        if left > 0 > right:
            stability = "stable"
        elif left < 0 < right:
            stability = "unstable"
        else:
            stability = "semi-stable"
        equilibria.append(Equilibrium(root, stability))
    return equilibria


def plot_phase_portrait(out_png, r: float = LOGISTIC_R, k: float = LOGISTIC_K) -> tuple[Path, list[Equilibrium]]:
    """Figure 10: dy/dt against y for the logistic equation, equilibria marked and
    labelled with their stability, arrows on the y axis for the direction of flow."""
    plt = _pyplot()
    y_min, y_max = -0.25 * k, 1.3 * k
    f = lambda y: logistic_rate(y, r, k)  # noqa: E731
    equilibria = phase_line(f, y_min, y_max)
    y = np.linspace(y_min, y_max, 400)
    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    ax.plot(y, f(y), color="C0", lw=2, label=f"dy/dt = r y (1 - y/K), r = {r:g}, K = {k:g}")
    ax.axhline(0.0, color="black", lw=1)
    # Arrows on the phase line (the y axis of the flow): right where dy/dt > 0, left where < 0.
    edges = [y_min] + [e.y for e in equilibria] + [y_max]
    arrow_len = 0.06 * (y_max - y_min)
    for a, b in zip(edges[:-1], edges[1:]):
        mid = 0.5 * (a + b)
        direction = np.sign(f(mid))
        if direction == 0 or b - a < 1.5 * arrow_len:
            continue
        start, end = mid - direction * arrow_len / 2, mid + direction * arrow_len / 2
        ax.annotate("", xy=(end, 0), xytext=(start, 0),
                    arrowprops=dict(arrowstyle="-|>", color="C3", lw=2.2, mutation_scale=20))
    peak = float(np.max(np.abs(f(y))))
    for eq in equilibria:
        stable = eq.stability == "stable"
        ax.plot(eq.y, 0, "o", ms=11, zorder=5, markeredgewidth=2,
                color="black", markerfacecolor="black" if stable else "white")
        shown = round(eq.y, 9) + 0.0  # the bisection's last digits (e.g. -4.7e-16) are noise
        label = f"y = K = {shown:g}" if abs(eq.y - k) < 1e-6 * k else f"y = {shown:g}"
        ax.annotate(f"{label}\n{eq.stability} equilibrium", (eq.y, 0), xytext=(0, -18),
                    textcoords="offset points", ha="center", va="top", fontsize=9)
    ax.set_xlabel("y")
    ax.set_ylabel("dy/dt")
    ax.set_xlim(y_min, y_max)
    ax.set_ylim(-0.9 * peak, 1.25 * peak)
    ax.grid(alpha=0.3)
    ax.plot([], [], "o", color="black", label="stable equilibrium (filled)")
    ax.plot([], [], "o", color="black", markerfacecolor="white", label="unstable equilibrium (open)")
    ax.plot([], [], color="C3", marker=">", ls="", label="direction of flow of y")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(
        "Figure 10 (report 7.3.1): phase portrait of the logistic (Verhulst) equation\n"
        "equilibria found numerically; arrows point where y moves (right: dy/dt > 0)",
        fontsize=11,
    )
    fig.tight_layout()
    return _save(fig, out_png), equilibria


# --------------------------------------------------------------------------- Figure 11


EULER_COLUMNS = ("Iteration", "x", "y", "dy/dx")


def euler_table(x_end: float = 4.0, step: float = 1.0):
    """Euler's method for dy/dx = y, y(0) = 1, from ``odeint(method="euler", step_size=1)``.

    Returns a DataFrame with columns Iteration, x, y, dy/dx; dy/dx is the right-hand
    side f(x, y) = y evaluated at the solver's own y.
    """
    import pandas as pd

    from reproduce._quiet import quiet_tensorflow

    quiet_tensorflow()
    import tensorflow as tf

    from odelayers import odeint

    def rhs(t, y):
        return y

    x = np.arange(0.0, x_end + step / 2, step)
    y = np.asarray(odeint(rhs, tf.constant(1.0, dtype=tf.float64), tf.constant(x, dtype=tf.float64),
                          method="euler", step_size=step)).reshape(-1)
    slope = np.asarray([float(rhs(tf.constant(xi, tf.float64), tf.constant(yi, tf.float64))) for xi, yi in zip(x, y)])
    return pd.DataFrame({"Iteration": np.arange(len(x)), "x": x, "y": y, "dy/dx": slope})


def euler_table_markdown(table) -> str:
    """The Euler table as Markdown, with how it compares to the report's (computed)."""
    def fmt(v):
        return f"{v:g}"

    lines = [
        "# Euler's method for dy/dx = y, y(0) = 1, step 1 on [0, 4]",
        "",
        "Computed by `odelayers.odeint(..., method=\"euler\", step_size=1)`; dy/dx is the right-hand "
        f"side evaluated at the solver's y (report section {report_claims.EULER_TABLE_SECTION}).",
        "",
        "| " + " | ".join(EULER_COLUMNS) + " |",
        "| --- | --- | --- | --- |",
    ]
    for row in table.itertuples(index=False):
        lines.append(f"| {int(row[0])} | {fmt(row[1])} | {fmt(row[2])} | {fmt(row[3])} |")
    report = np.asarray(report_claims.EULER_TABLE, dtype=float)
    ours = table[list(EULER_COLUMNS)].to_numpy(dtype=float)
    lines.append("")
    if ours.shape == report.shape and np.allclose(ours, report):
        lines.append("Every cell equals the report's table.")
    else:
        lines.append("Differs from the report's table, which reads:")
        lines += [f"- {tuple(float(v) for v in row)}" for row in report]
    slope0 = float(table["dy/dx"].iloc[0])
    said = report_claims.EULER_TEXT_DERIVATIVE_AT_0
    y0 = float(table["y"].iloc[0])
    step = float(table["x"].iloc[1] - table["x"].iloc[0])
    lines += [
        "",
        f"Note: the report's text says \"{report_claims.EULER_TEXT_QUOTE}\". The derivative at x = 0 "
        f"is dy/dx = y = {slope0:g}, not {said:g}: the report's table (dy/dx = 1 in row 0) is right "
        f"and its text is not. With a slope of {said:g} the first step would give y_1 = {y0 + step * said:g}, "
        f"not the table's {float(table['y'].iloc[1]):g}.",
        "",
    ]
    return "\n".join(lines)


def plot_euler(table, out_png) -> Path:
    """Figure 11: the Euler steps as coloured segments against the true curve exp(x)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    x_fine = np.linspace(float(table["x"].iloc[0]), float(table["x"].iloc[-1]), 300)
    ax.plot(x_fine, np.exp(x_fine), color="black", lw=2, label="true solution y = exp(x)")
    xs, ys = table["x"].to_numpy(), table["y"].to_numpy()
    for i in range(len(xs) - 1):
        ax.plot(xs[i:i + 2], ys[i:i + 2], "-o", color=f"C{i}", lw=2.5, ms=6,
                label=f"Euler step {i + 1}: slope {table['dy/dx'].iloc[i]:g}")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=9)
    ax.set_title(
        "Figure 11 (report 7.3.2): Euler's method for dy/dx = y, y(0) = 1, step 1\n"
        f"odelayers.odeint(method='euler'): y(4) = {ys[-1]:g} against exp(4) = {np.exp(4):.2f}",
        fontsize=11,
    )
    fig.tight_layout()
    return _save(fig, out_png)


# --------------------------------------------------------------------------- files, manifest, command


def _save(fig, out_png) -> Path:
    """Write the figure as PNG atomically (a crash leaves the old file or the new one)."""
    plt = _pyplot()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(out_png) as tmp:
            fig.savefig(tmp, dpi=FIGURE_DPI, format="png")
    finally:
        plt.close(fig)
    return out_png


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _matplotlib_version() -> str:
    import matplotlib

    return matplotlib.__version__


def data_label(source) -> str:
    """'real train.json sha256 1a2b3c4d5e6f' or 'stand-in ...' for figure titles."""
    return f"{source.kind} ({source.n_records} records), sha256 {source.sha256[:12]}"


def make_figures(data_path=None, runs_dir="results", out_dir=None, command: str | None = None,
                 only: tuple[str, ...] | None = None) -> Path:
    """Write every figure (or those named in ``only``) and ``manifest.json``; return the manifest path.

    Args:
        data_path: train.json for Figure 3 (see :func:`reproduce.data.resolve_data`).
        runs_dir: run folders for Figures 4 and 7.
        out_dir: where to write (default ``<runs_dir>/figures``).
        command: the command line to record (default: this process's argv).
        only: figure keys among :data:`FIGURE_KEYS`.

    Raises:
        ReproduceError: an unknown figure key; DataError: unreadable data (Figure 3).
        RuntimeError: the solver misses its tolerance (Figure 9).
    """
    out_dir = Path(out_dir) if out_dir is not None else Path(runs_dir) / "figures"
    out_dir.mkdir(parents=True, exist_ok=True)
    command = command or provenance.command_line()
    wanted = set(only) if only else set(FIGURE_KEYS)
    unknown = wanted - set(FIGURE_KEYS)
    if unknown:
        raise ReproduceError(f"unknown figure(s): {', '.join(sorted(unknown))}")
    entries = []

    def record(path: Path, figure: str, section: str, **extra):
        entries.append({"file": path.name, "figure": figure, "report_section": section,
                        "sha256": _sha256(path), "data": None, **extra})
        print(f"wrote {path}")

    if "fig03" in wanted:
        from reproduce.data import resolve_data

        frame, source = resolve_data(data_path)
        images, labels = r_plotted_training_images(frame)
        path = plot_image_grid(images, labels, out_dir / "fig03_images.png", data_label(source))
        record(path, "Figure 3", report_claims.IMAGE_GRID_SECTION, data=source.to_dict())
    if "fig04_07" in wanted:
        from reproduce.compare import curve_runs, load_runs

        runs_path = Path(runs_dir)
        runs = curve_runs(load_runs(runs_path).runs) if runs_path.is_dir() else {}
        path = plot_curves_side_by_side(runs, out_dir / "fig04_07_curves.png")
        record(path, "Figures 4 and 7", "2.2.3 (Figure 4), 3.2 (Figure 7)",
               runs={m: [{"run": r.name, "preprocessing": r.preprocessing, "status": r.get("status"),
                          "epochs": r.get("epochs"), "data": r.get("data")} for r in rs]
                     for m, rs in runs.items()})
    if "fig08" in wanted:
        result = train_toy_models()
        path = plot_trajectories(result, out_dir / "fig08_trajectories.png")
        record(path, "Figure 8", report_claims.TRAJECTORIES_SECTION,
               toy={"target": result.target, "depth": result.depth,
                    "resnet_mse": list(result.resnet_loss), "ode_mse": list(result.ode_loss)})
    if "fig09" in wanted:
        curves = solution_curves()
        path = plot_solution_curves(curves, out_dir / "fig09_solution_curves.png")
        record(path, "Figure 9", report_claims.SOLUTION_CURVES_SECTION,
               check={"max_abs_error": curves.max_error, "max_error_to_tolerance": curves.error_to_tolerance,
                      "rtol": SOLUTION_RTOL, "atol": SOLUTION_ATOL})
    if "fig10" in wanted:
        path, equilibria = plot_phase_portrait(out_dir / "fig10_phase_portrait.png")
        record(path, "Figure 10", report_claims.PHASE_PORTRAIT_SECTION,
               equilibria=[{"y": e.y, "stability": e.stability} for e in equilibria],
               parameters={"r": LOGISTIC_R, "K": LOGISTIC_K})
    if "fig11" in wanted:
        table = euler_table()
        path = plot_euler(table, out_dir / "fig11_euler.png")
        record(path, "Figure 11", report_claims.EULER_TABLE_SECTION)
        csv_path = out_dir / "euler_table.csv"
        table.to_csv(csv_path, index=False)
        record(csv_path, "Euler table", report_claims.EULER_TABLE_SECTION)
        md_path = out_dir / "euler_table.md"
        atomic_write_text(md_path, euler_table_markdown(table))
        record(md_path, "Euler table", report_claims.EULER_TABLE_SECTION)

    manifest_path = out_dir / "manifest.json"
    previous = {}
    if manifest_path.is_file():  # keep entries of figures not regenerated this time
        try:
            previous = {e["file"]: e for e in json.loads(manifest_path.read_text())["files"]}
        except (ValueError, KeyError, TypeError):
            previous = {}
    versions = provenance.versions()
    versions["matplotlib"] = _matplotlib_version()
    common = {
        "command": command,
        "versions": versions,
        "git_commit": provenance.git_commit(),
        "date": provenance.utc_now(),
        "hardware": provenance.hardware(),
    }
    for entry in entries:
        previous[entry["file"]] = {**entry, **common}
    manifest = {"files": [previous[name] for name in sorted(previous)]}
    atomic_write_text(manifest_path, json.dumps(manifest, indent=2, default=str) + "\n")
    return manifest_path


def _command(args) -> int:
    only = tuple(s.strip() for s in args.only.split(",")) if args.only else None
    argv = ["figures"]  # the command as parsed, for the manifest (sys.argv may be a test runner's)
    for option, value in (("--data", args.data), ("--runs", args.runs), ("--out", args.out), ("--only", args.only)):
        if value is not None:
            argv += [option, str(value)]
    manifest = make_figures(args.data, args.runs, args.out, command=provenance.command_line(argv), only=only)
    print(f"wrote {manifest}")
    return 0


def register(subparsers) -> None:
    """Add the ``figures`` command."""
    parser = subparsers.add_parser(
        "figures",
        help="regenerate the report's figures 3-11 (PNGs) and its Euler table",
        description=(
            "Regenerate the report's figures: the image grid (3), training curves from the runs (4, 7), "
            "ResNet vs Neural ODE trajectories (8), solution curves (9), phase portrait (10) and "
            "Euler's method with its table (11). Writes PNGs and manifest.json into --out."
        ),
    )
    parser.add_argument("--data", default=None,
                        help="train.json for Figure 3 (default: $ICEBERG_DATA, data/train.json, else the stand-in)")
    parser.add_argument("--runs", default="results", help="folder of run folders for Figures 4 and 7 (default: results)")
    parser.add_argument("--out", default=None, help="output folder (default: RUNS/figures)")
    parser.add_argument("--only", default=None,
                        help="comma-separated subset: fig03,fig04_07,fig08,fig09,fig10,fig11")
    parser.set_defaults(func=_command)
