"""Figures 4 and 7: loss and accuracy per epoch of the three models, from the run folders.

The lines are drawn by :func:`reproduce.engine.curves.draw_history`, the same
routine that draws each run's own curves, so the figure and the runs' curve
images always show the same values. A seed group (runs that differ only in the
training seed, :func:`reproduce.runs.curve_groups`) is drawn as each seed's
curve, thin and pale and kept out of the legend, under the seeds' mean per
epoch, thick: the spread of the draws stays visible beside the mean.
"""

from __future__ import annotations

from pathlib import Path

from reproduce.engine.curves import draw_history, load_history
from reproduce.figures.canvas import pyplot, save_figure
from reproduce.runs import MODEL_ORDER, MODEL_TITLES, Run, SeedGroup

PREPROCESSING_COLORS = {"r": "C0", "corrected": "C2", "r-array-only": "C4", "r-scaling-only": "C1"}
#: Colour of an R keras history, drawn dash-dotted beside our runs.
R_HISTORY_COLOR = "C3"


def plot_curves_side_by_side(
    runs_by_model, out_png, r_history=None, r_model: str = "dense", r_label: str = ""
) -> Path:
    """Figures 4 and 7: loss (top) and accuracy (bottom) per epoch, one column per model.

    Args:
        runs_by_model: ``{"dense"|"resnet"|"odenet": [Run or SeedGroup, ...]}``
            (see :func:`reproduce.runs.curve_groups`): each is drawn, faithful
            preprocessing in blue, corrected in green; a model without runs leaves
            an empty column, named in the title.
        out_png: file to write.
        r_history: an R keras history
            (:func:`reproduce.comparison.r_history.read_r_history`), drawn in red
            in the ``r_model`` column.
        r_label: how to name the R history in the legend.
    """
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    # One y-scale per row: the models' columns are compared side by side.
    fig, axes = plt.subplots(2, 3, figsize=(15, 8), sharex="col", sharey="row")
    missing = []
    for col, model in enumerate(MODEL_ORDER):
        loss_ax, acc_ax = axes[0, col], axes[1, col]
        runs = [_as_group(item) for item in runs_by_model.get(model) or []]
        r_here = r_history is not None and model == r_model
        if not runs and not r_here:
            missing.append(model)
            for ax in (loss_ax, acc_ax):
                ax.text(
                    0.5,
                    0.5,
                    "no run",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    color="gray",
                )
        for group in runs:
            _draw_group(loss_ax, acc_ax, group)
        if r_here:
            draw_history(
                loss_ax,
                acc_ax,
                r_history,
                colour=R_HISTORY_COLOR,
                styles=("-.", ":"),
                label=f"R keras {r_label}, training",
                validation_label=f"R keras {r_label}, validation",
            )
        subtitle = [
            f"{g.name}: {g.get('status', '?')}, {g.get('epochs', '?')} epochs"
            + (f", mean of {len(g.runs)} seeds" if len(g.runs) > 1 else "")
            for g in runs
        ]
        loss_ax.set_title("\n".join([MODEL_TITLES[model]] + subtitle), fontsize=9)
        loss_ax.set_ylabel("loss (binary cross-entropy)")
        acc_ax.set_ylabel("accuracy")
        acc_ax.set_xlabel("epoch")
        for ax in (loss_ax, acc_ax):
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
    suptitle = (
        "Figures 4 and 7 (report 2.2.3, 3.2): loss and accuracy per epoch from the runs' history.csv "
        "(blue: faithful R preprocessing, green: corrected,\npurple: R's array bug only, "
        "orange: R's scaling bug only)"
    )
    if any(len(g.runs) > 1 for item in runs_by_model.values() for g in map(_as_group, item)):
        suptitle += "; thin: each training seed, thick: their mean"
    if missing:
        suptitle += f"\nno run found for: {', '.join(missing)}"
    fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.91 if missing else 0.93))
    return save_figure(fig, out_png)


def _as_group(item: Run | SeedGroup) -> SeedGroup:
    return item if isinstance(item, SeedGroup) else SeedGroup([item])


def mean_history(group: SeedGroup):
    """The seeds' histories averaged epoch by epoch (the epochs any seed reached)."""
    import pandas as pd

    frames = [load_history(run.history) for run in group.runs]
    return pd.concat(frames).groupby("epoch", as_index=False).mean(numeric_only=True)


def _draw_group(loss_ax, acc_ax, group: SeedGroup) -> None:
    """One run as it is; several seeds thin (out of the legend) under their mean, thick."""
    colour = PREPROCESSING_COLORS.get(group.preprocessing, "C4")
    name = f"{group.name} ({group.preprocessing})"
    if len(group.runs) == 1:
        history = group.runs[0].history
    else:
        for run in group.runs:
            draw_history(
                loss_ax,
                acc_ax,
                run.history,
                colour=colour,
                label="_seed",  # a leading underscore keeps a line out of the legend
                validation_label="_seed",
                test_label="_seed",
                batch_stats_label="_seed",
                linewidth=0.7,
                alpha=0.35,
            )
        history = mean_history(group)
        name += f", mean of {len(group.runs)} seeds"
    draw_history(
        loss_ax,
        acc_ax,
        history,
        colour=colour,
        label=f"{name}, training",
        validation_label=f"{name}, validation",
        test_label=f"{name}, test (inference mode)",
        batch_stats_label=f"{name}, test (batch statistics)",
        **({} if len(group.runs) == 1 else {"linewidth": 2.2}),
    )
