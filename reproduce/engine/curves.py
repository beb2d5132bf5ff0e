"""Training curves: loss and accuracy per epoch, like the report's Figures 4 and 7.

R's ``plot(history)`` draws two stacked panels (loss, then accuracy) against
the epoch. :func:`plot_history` draws the same two panels side by side, from a
run's ``history.csv`` or an in-memory history, optionally with a second
history (for example one recorded by R) in the same panels for comparison.
:func:`draw_history` draws one history's lines on given axes; the report's
Figures 4 and 7 (``reproduce.figures.curves``) draw through it as well.

Matplotlib is used through its object interface with the Agg canvas, so no
window opens, no global ``pyplot`` state is touched and it works on machines
without a display.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reproduce.atomic import atomic_write_bytes

__all__ = ["ACCURACY_KEYS", "accuracy_column", "draw_history", "load_history", "plot_history"]

# Names Keras gives an accuracy metric, most common first.
ACCURACY_KEYS = (
    "accuracy",
    "acc",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
)

HistoryLike = Any  # pandas.DataFrame | str | os.PathLike | Mapping[str, list[float]]


def load_history(history: HistoryLike):
    """Return a history as a ``pandas.DataFrame`` with an ``epoch`` column (1-based).

    Args:
        history: a DataFrame, a path to a ``history.csv``, or a mapping of
            column name to per-epoch values (``keras.callbacks.History.history``).
            Without an ``epoch`` column, epochs are numbered 1..n.
    """
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
    """The name of the accuracy column of a history (``prefix`` e.g. ``"val_"``), or ``None``."""
    for key in ACCURACY_KEYS:
        if prefix + key in frame.columns:
            return prefix + key
    return None


def draw_history(
    loss_axis,
    accuracy_axis,
    history: HistoryLike,
    *,
    colour: str,
    label: str,
    validation_label: str,
    styles: tuple[str, str] = ("-", "--"),
    test_label: str | None = None,
    batch_stats_label: str | None = None,
    **line_options,
) -> None:
    """Draw one history's loss on ``loss_axis`` and its accuracy on ``accuracy_axis``.

    The one curve-drawing routine of the project: a run's ``curves.png``
    (:func:`plot_history`) and the report's Figures 4 and 7
    (``reproduce.figures.curves``) both draw through it, so the two always
    show the same values. Training columns use ``styles[0]``; validation
    columns (``val_loss``, ``val_accuracy``) and the engine's per-epoch test
    diagnostic (``test_loss``, ``test_accuracy``, scored in inference mode)
    ``styles[1]``; the test accuracy with batch statistics
    (``test_accuracy_batch_stats``, see ``reproduce.engine.inference``) dotted;
    all in ``colour``. Columns that are absent or entirely missing are skipped.

    Args:
        loss_axis: matplotlib axes for the loss.
        accuracy_axis: axes for the accuracy, or ``None`` for no accuracy panel.
        history: DataFrame, path to ``history.csv``, or ``History.history`` dict.
        colour: line colour.
        label: legend label of the training lines.
        validation_label: legend label of the validation lines.
        styles: line styles of the training and the validation (and test) lines.
        test_label: legend label of the test lines; default ``"<label> (test)"``.
        batch_stats_label: legend label of the batch-statistics test accuracy;
            default ``"<label> (test, batch statistics)"``.
        **line_options: passed to ``Axes.plot`` (marker, linewidth, ...).
    """
    frame = load_history(history)
    test_label = test_label or f"{label} (test)"
    panels = [(loss_axis, "loss", "val_loss", "test_loss")]
    if accuracy_axis is not None:
        panels.append(
            (accuracy_axis, *(accuracy_column(frame, prefix) for prefix in ("", "val_", "test_")))
        )
    for axis, training, validation, test in panels:
        for column, style, name in (
            (training, styles[0], label),
            (validation, styles[1], validation_label),
            (test, styles[1], test_label),
        ):
            if column is None or column not in frame.columns or frame[column].isna().all():
                continue
            axis.plot(
                frame["epoch"],
                frame[column],
                linestyle=style,
                color=colour,
                label=name,
                **line_options,
            )
    column = "test_accuracy_batch_stats"
    if accuracy_axis is not None and column in frame.columns and not frame[column].isna().all():
        accuracy_axis.plot(
            frame["epoch"],
            frame[column],
            linestyle=":",
            color=colour,
            label=batch_stats_label or f"{label} (test, batch statistics)",
            **line_options,
        )


def plot_history(
    history: HistoryLike,
    out_png: str | os.PathLike,
    title: str,
    r_history: HistoryLike | None = None,
    *,
    label: str = "training",
    r_label: str = "R keras",
    dpi: int = 150,
) -> Path:
    """Draw loss and accuracy per epoch into a PNG (written atomically).

    Left panel: loss; right panel: accuracy (y axis fixed to [0, 1] so that
    figures of different runs compare at a glance; a chance-level curve looks
    like one). Validation columns (``val_loss``, ``val_accuracy``) and the
    per-epoch test scores (``test_loss``, ``test_accuracy``), when the history
    has them, are drawn dashed in the same colour. ``r_history`` is
    drawn in a second colour with its own label, for comparing a port with
    the original. A history without an accuracy metric gets the loss panel
    only.

    Args:
        history: DataFrame, path to ``history.csv``, or ``History.history`` dict.
        out_png: where to write the PNG; its directory must exist.
        title: the figure title (say which model, which data, how many epochs).
        r_history: optional second history, same accepted forms.
        label: legend label of ``history``'s training curves.
        r_label: legend label of ``r_history``'s curves.
        dpi: resolution of the PNG.

    Returns:
        The path of the PNG.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    frame = load_history(history)
    other = load_history(r_history) if r_history is not None else None
    frames = [(frame, label, "tab:blue")]
    if other is not None:
        frames.append((other, r_label, "tab:orange"))

    has_accuracy = any(
        accuracy_column(f, prefix) for f, _, _ in frames for prefix in ("", "val_", "test_")
    )
    panels = 2 if has_accuracy else 1
    figure = Figure(figsize=(5.0 * panels + 1.0, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, panels, squeeze=False)[0]

    accuracy_axis = axes[1] if has_accuracy else None
    for data, name, colour in frames:
        # Markers only where the points are few enough to be told apart.
        marker = "o" if len(data) <= 30 else None
        draw_history(
            axes[0],
            accuracy_axis,
            data,
            colour=colour,
            label=name,
            validation_label=f"{name} (validation)",
            test_label=f"{name} (test, inference mode)",
            marker=marker,
            markersize=3,
            linewidth=1.5,
        )
    axes[0].set_title("Loss")
    axes[0].set_ylabel("loss")
    if accuracy_axis is not None:
        accuracy_axis.set_title("Accuracy")
        accuracy_axis.set_ylabel("accuracy")
        accuracy_axis.set_ylim(0.0, 1.0)

    for axis in axes:
        axis.set_xlabel("epoch")
        axis.grid(True, alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(loc="best", fontsize="small")
        # Epochs are whole numbers: no tick at 2.5.
        axis.xaxis.get_major_locator().set_params(integer=True)
    figure.suptitle(title)

    out = Path(out_png)
    # Rendered in memory first, so that a full disk fails in Python's write.
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=dpi)
    return atomic_write_bytes(out, image.getvalue())
