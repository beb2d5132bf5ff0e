"""Loss and accuracy per epoch: a run's ``curves.png``, drawn like R's ``plot(history)``.

:func:`draw_history` is the one routine that draws a history's lines; the
report's Figures 4 and 7 (``reproduce.figures``) draw through it too.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path

from reproduce.atomic import atomic_write_bytes
from reproduce.engine.inference import ACCURACY_KEYS


def load_history(history):
    """A DataFrame, a ``history.csv`` path or a ``History.history`` dict, as a DataFrame with
    an ``epoch`` column (1..n when absent)."""
    import pandas as pd

    if isinstance(history, (str, os.PathLike)):
        frame = pd.read_csv(history)
    elif isinstance(history, Mapping):
        frame = pd.DataFrame({key: list(values) for key, values in history.items()})
    else:
        frame = history.copy()
    if "epoch" not in frame.columns:
        frame.insert(0, "epoch", range(1, len(frame) + 1))
    return frame


def accuracy_column(frame, prefix: str = "") -> str | None:
    return next((prefix + k for k in ACCURACY_KEYS if prefix + k in frame.columns), None)


def draw_history(
    loss_axis,
    accuracy_axis,
    history,
    *,
    colour: str,
    label: str,
    validation_label: str,
    styles: tuple[str, str] = ("-", "--"),
    test_label: str | None = None,
    batch_stats_label: str | None = None,
    **line_options,
) -> None:
    """Draw one history's loss on ``loss_axis`` and accuracy on ``accuracy_axis`` (or ``None``).

    Training columns in ``styles[0]``; validation and test columns in
    ``styles[1]``; ``test_accuracy_batch_stats`` dotted; all in ``colour``.
    Absent or empty columns are skipped. ``line_options`` go to ``Axes.plot``.
    """
    frame = load_history(history)
    test_label = test_label or f"{label} (test)"
    lines = [
        (loss_axis, "loss", styles[0], label),
        (loss_axis, "val_loss", styles[1], validation_label),
        (loss_axis, "test_loss", styles[1], test_label),
    ]
    if accuracy_axis is not None:
        lines += [
            (accuracy_axis, accuracy_column(frame), styles[0], label),
            (accuracy_axis, accuracy_column(frame, "val_"), styles[1], validation_label),
            (accuracy_axis, accuracy_column(frame, "test_"), styles[1], test_label),
            (
                accuracy_axis,
                "test_accuracy_batch_stats",
                ":",
                batch_stats_label or f"{label} (test, batch statistics)",
            ),
        ]
    for axis, column, style, name in lines:
        if column is not None and column in frame.columns and not frame[column].isna().all():
            axis.plot(
                frame["epoch"],
                frame[column],
                linestyle=style,
                color=colour,
                label=name,
                **line_options,
            )


def plot_history(
    history,
    out_png: str | os.PathLike,
    title: str,
    r_history=None,
    *,
    label: str = "training",
    r_label: str = "R keras",
    dpi: int = 150,
) -> Path:
    """Loss (left) and accuracy (right, y in [0, 1]) per epoch into a PNG, written atomically.

    ``r_history``, in a second colour, compares a port with the original; a
    history without accuracy gets the loss panel only.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    frames = [(load_history(history), label, "tab:blue")]
    if r_history is not None:
        frames.append((load_history(r_history), r_label, "tab:orange"))
    has_accuracy = any(accuracy_column(f, p) for f, _, _ in frames for p in ("", "val_", "test_"))
    panels = 2 if has_accuracy else 1
    figure = Figure(figsize=(5.0 * panels + 1.0, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, panels, squeeze=False)[0]
    accuracy_axis = axes[1] if has_accuracy else None
    for frame, name, colour in frames:
        draw_history(
            axes[0],
            accuracy_axis,
            frame,
            colour=colour,
            label=name,
            validation_label=f"{name} (validation)",
            test_label=f"{name} (test, inference mode)",
            marker="o" if len(frame) <= 30 else None,  # markers only where they stay apart
            markersize=3,
            linewidth=1.5,
        )
    axes[0].set(title="Loss", ylabel="loss")
    if accuracy_axis is not None:
        accuracy_axis.set(title="Accuracy", ylabel="accuracy", ylim=(0.0, 1.0))
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
