"""Figures 4 and 7: loss and accuracy per epoch of the three models, from the runs' history. Every
panel has its own y scale, as the report's separate plots do: on one shared scale the CNNs' losses
would be flat lines under the dense network's. A seed group is drawn as each seed's curve, thin,
under the seeds' mean per epoch, thick, so the spread stays visible."""

from pathlib import Path

from reproduce.figures.canvas import pyplot, save_figure
from reproduce.runs import MODELS, SeedGroup

TITLES = {"dense": "dense network", "resnet": "residual CNN", "odenet": "ODE-Net"}
COLOURS = {"r": "C0", "corrected": "C2", "r-array-only": "C4", "r-scaling-only": "C1"}
LOSS_LABEL, ACCURACY_LABEL = "loss (binary cross-entropy)", "accuracy"
#: history column -> (panel: 0 loss, 1 accuracy; line style; what the line is); "acc" is
#: Keras' older name of "accuracy".
LINES = {
    "loss": (0, "-", "training"), "val_loss": (0, "-.", "validation"),
    "test_loss": (0, "--", "test (inference mode)"),
    "accuracy": (1, "-", "training"), "acc": (1, "-", "training"),
    "val_accuracy": (1, "-.", "validation"), "val_acc": (1, "-.", "validation"),
    "test_accuracy": (1, "--", "test (inference mode)"),
    "test_accuracy_batch_stats": (1, ":", "test (batch statistics)"),
}  # fmt: skip


def draw_columns(panels, history, colour: str, name: str, **style) -> None:
    """Draw a history's :data:`LINES` on (loss, accuracy) ``panels``; a ``_name`` stays unlisted."""
    for column, (panel, linestyle, what) in LINES.items():
        if column in history and history[column].notna().any():
            label = name if name.startswith("_") else f"{name}, {what}"
            panels[panel].plot(
                history["epoch"], history[column], ls=linestyle, color=colour, label=label, **style
            )


def mean_history(group: SeedGroup):
    """The seeds' histories averaged epoch by epoch (over the seeds that reached the epoch)."""
    import pandas as pd

    histories = pd.concat([run.history for run in group.runs])
    return histories.groupby("epoch", as_index=False).mean(numeric_only=True)


def plot_curves(groups_by_model: dict[str, list[SeedGroup]], out_png) -> Path:
    """Loss over accuracy per epoch, a column per model, of :func:`reproduce.runs.curve_groups`."""
    from matplotlib.ticker import MaxNLocator

    fig, axes = pyplot().subplots(2, 3, figsize=(16, 10), sharex="col", layout="constrained")
    for col, model in enumerate(MODELS):
        panels = axes[:, col]
        groups = groups_by_model.get(model, [])
        for group in groups:
            colour, name = COLOURS.get(group.preprocessing, "C5"), group.name
            if group.n == 1:
                draw_columns(panels, group.runs[0].history, colour, name)
                continue
            for run in group.runs:
                draw_columns(panels, run.history, colour, "_seed", lw=0.7, alpha=0.35)
            draw_columns(panels, mean_history(group), colour, f"{name}, mean of {group.n}", lw=2.2)
        subtitles = [f"{g.name}: {g.get('status')}, {g.get('epochs')} epochs" for g in groups]
        panels[0].set_title("\n".join([TITLES[model], *subtitles]), fontsize=9)
        panels[0].set(ylabel=LOSS_LABEL)
        panels[1].set(ylabel=ACCURACY_LABEL, xlabel="epoch")
        for ax in panels:
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if not ax.get_lines():
                ax.text(0.5, 0.5, "no run", ha="center", transform=ax.transAxes, color="gray")
        handles = dict(zip(*panels[1].get_legend_handles_labels()[::-1]))
        handles.update(zip(*panels[0].get_legend_handles_labels()[::-1]))
        if handles:  # below the panels, where it hides no curve
            panels[1].legend(handles.values(), handles.keys(), loc="upper center", fontsize=7,
                             bbox_to_anchor=(0.5, -0.14), frameon=False)  # fmt: skip
    title = ("Figures 4 and 7 (report 2.2.3, 3.2): loss and accuracy per epoch from the runs' "
             "history.csv\nblue: faithful R preprocessing, green: corrected, purple: R's array "
             "bug only, orange: R's scaling bug only; thin: each training seed, thick: their "
             "mean")  # fmt: skip
    return save_figure(fig, out_png, title, fontsize=11)
