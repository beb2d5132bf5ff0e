"""Loss and accuracy per epoch: a run's ``curves.png``, drawn like R's ``plot(history)``."""

from __future__ import annotations

import io
from pathlib import Path

from reproduce.atomic import atomic_write_bytes
from reproduce.inference import accuracy_key


def draw_history(loss_axis, accuracy_axis, history, *, colour: str, label: str, **style) -> None:
    """One history: training solid, test (inference mode) dashed, batch-statistics accuracy dotted.

    ``history``: a list of rows or a dict of columns; ``accuracy_axis`` may be ``None``.
    """
    import pandas as pd

    frame = pd.DataFrame(history if isinstance(history, list) else dict(history))
    epochs = frame["epoch"] if "epoch" in frame.columns else range(1, len(frame) + 1)
    test = f"{label} (test, inference mode)"
    lines = [(loss_axis, "loss", "-", label), (loss_axis, "test_loss", "--", test)]
    if accuracy_axis is not None:
        lines += [
            (accuracy_axis, accuracy_key(frame.columns), "-", label),
            (accuracy_axis, "test_accuracy", "--", test),
            (accuracy_axis, "test_accuracy_batch_stats", ":", f"{label} (test, batch statistics)"),
        ]
    for axis, column, linestyle, name in lines:
        if column in frame.columns and not frame[column].isna().all():
            axis.plot(epochs, frame[column], linestyle, color=colour, label=name, **style)


def plot_history(history, out_png, title: str, *, dpi: int = 150) -> Path:
    """Loss (left) and accuracy (right, y in [0, 1], when logged) per epoch into a PNG, atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = 2 if accuracy_key(history[0] if isinstance(history, list) else history) else 1
    figure = Figure(figsize=(5.0 * panels + 1.0, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, panels, squeeze=False)[0]
    style = {"marker": "o" if len(history) <= 30 else None, "markersize": 3, "linewidth": 1.5}
    style |= {"colour": "tab:blue", "label": "training"}
    draw_history(*axes, *[None] * (2 - panels), history, **style)
    axes[0].set(title="Loss", ylabel="loss")
    if panels == 2:
        axes[1].set(title="Accuracy", ylabel="accuracy", ylim=(0.0, 1.0))
    for axis in axes:
        axis.set(xlabel="epoch")
        axis.grid(True, alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(loc="best", fontsize="small")
        axis.xaxis.get_major_locator().set_params(integer=True)  # no tick at epoch 2.5
    figure.suptitle(title)
    image = io.BytesIO()  # rendered in memory: a full disk fails in Python's write
    figure.savefig(image, format="png", dpi=dpi)
    return atomic_write_bytes(Path(out_png), image.getvalue())
