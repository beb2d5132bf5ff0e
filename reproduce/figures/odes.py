"""Figures 9-11 and the Euler table: the report's worked ODE examples, solved by
:func:`odelayers.odeint` and checked against closed forms.

* Figure 9: dy/dx + y/2 = 3/2 against 3 - (3 - y0) exp(-x/2);
* Figure 10: the logistic equation's phase portrait, equilibria found
  numerically and classified (:func:`phase_line`);
* Figure 11 and the table: Euler's method with step 1 for dy/dx = y, from
  ``odeint(method="euler")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reproduce import report_claims
from reproduce.figures.canvas import pyplot, save_figure

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


def solution_curves(
    y0s=SOLUTION_Y0, x_end: float = 12.0, rtol: float = SOLUTION_RTOL, atol: float = SOLUTION_ATOL
) -> SolutionCurves:
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
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for k, y0 in enumerate(curves.y0):
        if y0 == 2.0:
            continue
        ax.plot(curves.x, curves.y[:, k], color="0.45", lw=1.2)
        ax.annotate(
            f"y(0) = {y0:g}",
            (curves.x[0], y0),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
            color="0.3",
        )
    k2 = int(np.flatnonzero(curves.y0 == 2.0)[0]) if np.any(curves.y0 == 2.0) else None
    if k2 is not None:
        ax.plot(
            curves.x,
            curves.y[:, k2],
            color=report_claims.SOLUTION_CURVES_HIGHLIGHT_COLOR,
            lw=2.8,
            label="y(0) = 2: y = 3 - exp(-x/2)",
        )
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
    return save_figure(fig, out_png)


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


def plot_phase_portrait(
    out_png, r: float = LOGISTIC_R, k: float = LOGISTIC_K
) -> tuple[Path, list[Equilibrium]]:
    """Figure 10: dy/dt against y for the logistic equation, equilibria marked and
    labelled with their stability, arrows on the y axis for the direction of flow."""
    plt = pyplot()
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
        ax.annotate(
            "",
            xy=(end, 0),
            xytext=(start, 0),
            arrowprops=dict(arrowstyle="-|>", color="C3", lw=2.2, mutation_scale=20),
        )
    peak = float(np.max(np.abs(f(y))))
    for eq in equilibria:
        stable = eq.stability == "stable"
        ax.plot(
            eq.y,
            0,
            "o",
            ms=11,
            zorder=5,
            markeredgewidth=2,
            color="black",
            markerfacecolor="black" if stable else "white",
        )
        shown = round(eq.y, 9) + 0.0  # the bisection's last digits (e.g. -4.7e-16) are noise
        label = f"y = K = {shown:g}" if abs(eq.y - k) < 1e-6 * k else f"y = {shown:g}"
        ax.annotate(
            f"{label}\n{eq.stability} equilibrium",
            (eq.y, 0),
            xytext=(0, -18),
            textcoords="offset points",
            ha="center",
            va="top",
            fontsize=9,
        )
    ax.set_xlabel("y")
    ax.set_ylabel("dy/dt")
    ax.set_xlim(y_min, y_max)
    ax.set_ylim(-0.9 * peak, 1.25 * peak)
    ax.grid(alpha=0.3)
    ax.plot([], [], "o", color="black", label="stable equilibrium (filled)")
    ax.plot(
        [], [], "o", color="black", markerfacecolor="white", label="unstable equilibrium (open)"
    )
    ax.plot([], [], color="C3", marker=">", ls="", label="direction of flow of y")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(
        "Figure 10 (report 7.3.1): phase portrait of the logistic (Verhulst) equation\n"
        "equilibria found numerically; arrows point where y moves (right: dy/dt > 0)",
        fontsize=11,
    )
    fig.tight_layout()
    return save_figure(fig, out_png), equilibria


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
    y = np.asarray(
        odeint(
            rhs,
            tf.constant(1.0, dtype=tf.float64),
            tf.constant(x, dtype=tf.float64),
            method="euler",
            step_size=step,
        )
    ).reshape(-1)
    slope = np.asarray(
        [
            float(rhs(tf.constant(xi, tf.float64), tf.constant(yi, tf.float64)))
            for xi, yi in zip(x, y)
        ]
    )
    return pd.DataFrame({"Iteration": np.arange(len(x)), "x": x, "y": y, "dy/dx": slope})


def euler_table_markdown(table) -> str:
    """The Euler table as Markdown, with how it compares to the report's (computed)."""

    def fmt(v):
        return f"{v:g}"

    lines = [
        "# Euler's method for dy/dx = y, y(0) = 1, step 1 on [0, 4]",
        "",
        'Computed by `odelayers.odeint(..., method="euler", step_size=1)`; dy/dx is the right-hand '
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
        f'Note: the report\'s text says "{report_claims.EULER_TEXT_QUOTE}". The derivative at x = 0 '
        f"is dy/dx = y = {slope0:g}, not {said:g}: the report's table (dy/dx = 1 in row 0) is right "
        f"and its text is not. With a slope of {said:g} the first step would give y_1 = {y0 + step * said:g}, "
        f"not the table's {float(table['y'].iloc[1]):g}.",
        "",
    ]
    return "\n".join(lines)


def plot_euler(table, out_png) -> Path:
    """Figure 11: the Euler steps as coloured segments against the true curve exp(x)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    x_fine = np.linspace(float(table["x"].iloc[0]), float(table["x"].iloc[-1]), 300)
    ax.plot(x_fine, np.exp(x_fine), color="black", lw=2, label="true solution y = exp(x)")
    xs, ys = table["x"].to_numpy(), table["y"].to_numpy()
    for i in range(len(xs) - 1):
        ax.plot(
            xs[i : i + 2],
            ys[i : i + 2],
            "-o",
            color=f"C{i}",
            lw=2.5,
            ms=6,
            label=f"Euler step {i + 1}: slope {table['dy/dx'].iloc[i]:g}",
        )
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
    return save_figure(fig, out_png)
