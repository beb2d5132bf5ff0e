"""Loss and accuracy per epoch: a run's ``curves.png``, drawn like R's ``plot(history)``."""

from __future__ import annotations

import io
import os
from pathlib import Path

from reproduce.atomic import atomic_write_bytes
from reproduce.engine.inference import accuracy_key


def load_history(history):
    """A ``history.csv`` path, a list of rows or a dict of columns, as a DataFrame with ``epoch``."""
    import pandas as pd

    if isinstance(history, (str, os.PathLike)):
        frame = pd.read_csv(history)
    else:
        frame = pd.DataFrame(history if isinstance(history, list) else dict(history))
    if "epoch" not in frame.columns:
        frame.insert(0, "epoch", range(1, len(frame) + 1))
    return frame


def draw_history(loss_axis, accuracy_axis, history, *, colour: str, label: str, **style) -> None:
    """One history: training solid, test (inference mode) dashed, batch-statistics accuracy dotted."""
    frame, style = load_history(history), {"markersize": 3, "linewidth": 1.5, **style}
    lines = [
        (loss_axis, "loss", "-", label),
        (loss_axis, "test_loss", "--", f"{label} (test, inference mode)"),
    ]
    if accuracy_axis is not None:
        lines += [
            (accuracy_axis, accuracy_key(frame.columns), "-", label),
            (accuracy_axis, "test_accuracy", "--", f"{label} (test, inference mode)"),
            (accuracy_axis, "test_accuracy_batch_stats", ":", f"{label} (test, batch statistics)"),
        ]
    for axis, column, linestyle, name in lines:
        if column in frame.columns and not frame[column].isna().all():
            axis.plot(frame["epoch"], frame[column], linestyle, color=colour, label=name, **style)


def plot_history(history, out_png, title: str, r_history=None, *, dpi: int = 150) -> Path:
    """Loss (left) and accuracy (right, y in [0, 1]) per epoch into a PNG, written atomically.

    ``r_history``, in a second colour, compares a port with R's run; a history
    without accuracy gets the loss panel only.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    frames = [(load_history(history), "training", "tab:blue")]
    if r_history is not None:
        frames.append((load_history(r_history), "R keras", "tab:orange"))
    panels = 2 if any(accuracy_key(frame.columns) for frame, _, _ in frames) else 1
    figure = Figure(figsize=(5.0 * panels + 1.0, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, panels, squeeze=False)[0]
    for frame, name, colour in frames:
        marker = "o" if len(frame) <= 30 else None  # markers only where they stay apart
        accuracy_axis = axes[1] if panels == 2 else None
        draw_history(axes[0], accuracy_axis, frame, colour=colour, label=name, marker=marker)
    axes[0].set(title="Loss", ylabel="loss")
    if panels == 2:
        axes[1].set(title="Accuracy", ylabel="accuracy", ylim=(0.0, 1.0))
    for axis in axes:
        axis.set_xlabel("epoch")
        axis.grid(True, alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(loc="best", fontsize="small")
        axis.xaxis.get_major_locator().set_params(integer=True)  # no tick at epoch 2.5
    figure.suptitle(title)
    image = io.BytesIO()  # rendered in memory: a full disk fails in Python's write
    figure.savefig(image, format="png", dpi=dpi)
    return atomic_write_bytes(Path(out_png), image.getvalue())
