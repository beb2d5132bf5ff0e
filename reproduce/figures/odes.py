"""Figures 9-11 and the Euler table: the report's worked ODE examples, solved by
:func:`odelayers.odeint` and checked against their closed forms."""

from pathlib import Path
from typing import NamedTuple

import numpy as np

from reproduce import report_claims
from reproduce.figures.canvas import pyplot, save_figure

SOLUTION_Y0 = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
SOLUTION_RTOL, SOLUTION_ATOL = 1e-6, 1e-8
LOGISTIC_R, LOGISTIC_K = 0.5, 10.0


def _odeint(f, y0, t, **options) -> np.ndarray:
    from reproduce._quiet import quiet_tensorflow

    quiet_tensorflow()
    import tensorflow as tf

    import odelayers  # looked up at call time, so a test can replace odeint

    y0, t = tf.constant(y0, tf.float64), tf.constant(t, tf.float64)
    return np.asarray(odelayers.odeint(f, y0, t, **options))


class SolutionCurves(NamedTuple):
    """dy/dx + y/2 = 3/2 at ``x`` from each ``y0`` (``y``: [len(x), len(y0)]), within tolerance."""

    x: np.ndarray
    y0: np.ndarray
    y: np.ndarray
    max_error: float
    error_to_tolerance: float


def solution_curves(y0s=SOLUTION_Y0, x_end=12.0, rtol=SOLUTION_RTOL, atol=SOLUTION_ATOL):
    """Solve dy/dx = (3 - y)/2 with dopri5; raise RuntimeError where a point misses
    ``atol + rtol |exact|`` of y = 3 - (3 - y0) exp(-x/2): a broken solver must not draw."""
    y0, x = np.asarray(y0s, np.float64), np.linspace(0.0, x_end, 241)
    y = _odeint(lambda t, y: (3.0 - y) / 2.0, y0, x, method="dopri5", rtol=rtol, atol=atol)
    exact = 3.0 - (3.0 - y0[None, :]) * np.exp(-x[:, None] / 2.0)
    error, bound = np.abs(y - exact), atol + rtol * np.abs(exact)
    if not np.all(error <= bound):
        i, k = np.unravel_index(np.argmax(error - bound), error.shape)
        raise RuntimeError(
            f"odeint misses its tolerance on dy/dx + y/2 = 3/2: |error| {error[i, k]:.3g} > "
            f"atol + rtol |y| = {bound[i, k]:.3g} at x = {x[i]:.3g}, y0 = {y0[k]:g}"
        )
    return SolutionCurves(x, y0, y, float(error.max()), float(np.max(error / bound)))


def _finish(fig, ax, out_png, title: str, legend: str, **axis) -> Path:
    ax.set(**axis)
    ax.grid(alpha=0.3)
    ax.legend(loc=legend, fontsize=8)
    ax.set_title(title, fontsize=11)
    fig.tight_layout()
    return save_figure(fig, out_png)


def plot_solution_curves(curves: SolutionCurves, out_png) -> Path:
    """Figure 9: the solution curves, y(0) = 2 in sea green, the asymptote y = 3 dashed."""
    fig, ax = pyplot().subplots(figsize=(8, 5.5))
    for k, y0 in enumerate(curves.y0):
        if y0 == 2.0:
            ax.plot(curves.x, curves.y[:, k], lw=2.8, label="y(0) = 2: y = 3 - exp(-x/2)",
                    color=report_claims.SOLUTION_CURVES_HIGHLIGHT_COLOR, zorder=3)  # fmt: skip
            continue
        ax.plot(curves.x, curves.y[:, k], color="0.45", lw=1.2)
        ax.annotate(f"y(0) = {y0:g}", (curves.x[0], y0), xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize=8, color="0.3")  # fmt: skip
    ax.axhline(3.0, color="black", ls="--", lw=1.2, label="asymptote y = 3 (dy/dx = 0)")
    title = ("Figure 9 (report 7.3.1): solution curves of dy/dx + y/2 = 3/2\nodelayers.odeint "
             f"(dopri5); max |error| vs 3 - (3 - y0) exp(-x/2): {curves.max_error:.1e}")  # fmt: skip
    xlim = (curves.x[0], curves.x[-1])
    return _finish(fig, ax, out_png, title, "lower right", xlabel="x", ylabel="y(x)", xlim=xlim)


class Equilibrium(NamedTuple):
    """A zero of dy/dt = f(y); ``stability`` is "stable", "unstable" or "semi-stable"."""

    y: float
    stability: str


def phase_line(f, y_min: float, y_max: float, n_grid: int = 4001) -> list[Equilibrium]:
    """Equilibria of dy/dt = f(y) on [y_min, y_max]: sign changes of f on a grid refined by
    bisection; stable where the flow comes from both sides (f > 0 left, f < 0 right)."""
    grid = np.linspace(y_min, y_max, n_grid)
    signs = np.sign(f(grid))
    roots = []
    for i in range(n_grid):
        if signs[i] == 0:
            roots.append(float(grid[i]))
        elif i + 1 < n_grid and signs[i] * signs[i + 1] < 0:
            lo, hi = grid[i], grid[i + 1]
            while hi - lo > 1e-14 * max(1.0, abs(lo)):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if np.sign(f(mid)) == signs[i] else (lo, mid)
            roots.append(float(0.5 * (lo + hi)))
    delta = (y_max - y_min) / (n_grid - 1) / 2
    names = {(1.0, -1.0): "stable", (-1.0, 1.0): "unstable"}
    return [
        Equilibrium(y, names.get((np.sign(f(y - delta)), np.sign(f(y + delta))), "semi-stable"))
        for y in roots
    ]


def plot_phase_portrait(out_png, r: float = LOGISTIC_R, k: float = LOGISTIC_K):
    """Figure 10: dy/dt against y for the logistic equation, equilibria marked (filled:
    stable) with arrows for the direction of flow. Returns (path, equilibria)."""
    y_min, y_max = -0.25 * k, 1.3 * k
    f = lambda y: r * y * (1.0 - y / k)  # noqa: E731  (report equation 30)
    equilibria = phase_line(f, y_min, y_max)
    y = np.linspace(y_min, y_max, 400)
    fig, ax = pyplot().subplots(figsize=(8.5, 5.5))
    ax.plot(y, f(y), color="C0", lw=2, label=f"dy/dt = r y (1 - y/K), r = {r:g}, K = {k:g}")
    ax.axhline(0.0, color="black", lw=1)
    edges, arrow = [y_min, *(e.y for e in equilibria), y_max], 0.06 * (y_max - y_min)
    for a, b in zip(edges[:-1], edges[1:]):
        mid, direction = 0.5 * (a + b), np.sign(f(0.5 * (a + b)))
        if direction and b - a >= 1.5 * arrow:
            ax.annotate("", xy=(mid + direction * arrow / 2, 0), xytext=(mid - direction * arrow / 2, 0),
                        arrowprops=dict(arrowstyle="-|>", color="C3", lw=2.2, mutation_scale=20))  # fmt: skip
    for eq in equilibria:
        face = "black" if eq.stability == "stable" else "white"
        ax.plot(eq.y, 0, "o", ms=11, zorder=5, mew=2, color="black", markerfacecolor=face)
        shown = round(eq.y, 9) + 0.0  # the bisection's last digits (-4.7e-16) are noise
        label = f"y = K = {shown:g}" if abs(eq.y - k) < 1e-6 * k else f"y = {shown:g}"
        ax.annotate(f"{label}\n{eq.stability} equilibrium", (eq.y, 0), xytext=(0, -18),
                    textcoords="offset points", ha="center", va="top", fontsize=9)  # fmt: skip
    peak = float(np.max(np.abs(f(y))))
    ax.plot([], [], "o", color="black", label="stable equilibrium (filled)")
    ax.plot([], [], "o", color="black", mfc="white", label="unstable equilibrium (open)")
    ax.plot([], [], color="C3", marker=">", ls="", label="direction of flow of y")
    title = ("Figure 10 (report 7.3.1): phase portrait of the logistic (Verhulst) equation\n"
             "equilibria found numerically; arrows point where y moves (right: dy/dt > 0)")  # fmt: skip
    limits = dict(xlim=(y_min, y_max), ylim=(-0.9 * peak, 1.25 * peak))
    path = _finish(fig, ax, out_png, title, "upper right", xlabel="y", ylabel="dy/dt", **limits)
    return path, equilibria


def euler_table(x_end: float = 4.0, step: float = 1.0):
    """Euler's method for dy/dx = y, y(0) = 1 by ``odeint``: Iteration, x, y, dy/dx (= y) rows."""
    import pandas as pd

    x = np.arange(0.0, x_end + step / 2, step)
    y = _odeint(lambda t, y: y, 1.0, x, method="euler", step_size=step).reshape(-1)
    return pd.DataFrame({"Iteration": np.arange(len(x)), "x": x, "y": y, "dy/dx": y})


def euler_table_markdown(table) -> str:
    """The Euler table as Markdown, beside the report's (section 7.3.2) cell by cell."""
    report = np.asarray(report_claims.EULER_TABLE, dtype=float)[:, 2:]
    ours = table[["Iteration", "x", "y", "dy/dx"]].itertuples(index=False)
    rows = ["| " + " | ".join(f"{v:g}" for v in (*a, *b)) + " |" for a, b in zip(ours, report)]
    said, slope = report_claims.EULER_TEXT_DERIVATIVE_AT_0, table["dy/dx"].iloc[0]
    return "\n".join([
        "# Euler's method for dy/dx = y, y(0) = 1, step 1 (report section "
        f"{report_claims.EULER_TABLE_SECTION})", "",
        '`odelayers.odeint(..., method="euler", step_size=1)`; dy/dx: the right-hand side at '
        "the solver's y.", "",
        "| Iteration | x | y | dy/dx | report y | report dy/dx |", "|" + " --- |" * 6, *rows, "",
        f'The report\'s text: "{report_claims.EULER_TEXT_QUOTE}" (dy/dx at x = 0: {said:g}; '
        f"computed: {slope:g}).", "",
    ])  # fmt: skip


def plot_euler(table, out_png) -> Path:
    """Figure 11: the Euler steps as coloured segments against the true curve exp(x)."""
    fig, ax = pyplot().subplots(figsize=(8, 5.5))
    xs, ys = table["x"].to_numpy(), table["y"].to_numpy()
    x_fine = np.linspace(xs[0], xs[-1], 300)
    ax.plot(x_fine, np.exp(x_fine), color="black", lw=2, label="true solution y = exp(x)")
    for i in range(len(xs) - 1):
        ax.plot(xs[i : i + 2], ys[i : i + 2], "-o", color=f"C{i}", lw=2.5, ms=6,
                label=f"Euler step {i + 1}: slope {table['dy/dx'].iloc[i]:g}")  # fmt: skip
    title = ("Figure 11 (report 7.3.2): Euler's method for dy/dx = y, y(0) = 1, step 1\n"
             f"odelayers.odeint(method='euler'): y(4) = {ys[-1]:g} against exp(4) = {np.exp(4):.2f}")  # fmt: skip
    return _finish(fig, ax, out_png, title, "upper left", xlabel="x", ylabel="y")
