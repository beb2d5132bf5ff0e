"""Two statistics of a run's per-epoch test diagnostics (``history.csv``), defined once.

The comparison's text (``explain``) and ``benchmarks/odenet_accuracy.py`` both
read them, so both say the same thing about the same runs.
"""

from __future__ import annotations

#: Epochs at the end of a run whose per-epoch test accuracies are averaged (less noisy).
LATE_EPOCHS = 4


def late_mean(history, column: str = "test_accuracy", epochs: int = LATE_EPOCHS) -> float | None:
    """Mean of ``column`` over the last ``epochs`` epochs.

    ``None`` without the column (or with no value in it), and for a run shorter
    than ``epochs``: its "last 4 epochs" would be all of them.
    """
    if history is None or column not in history or history[column].isna().all():
        return None
    if len(history) < epochs:
        return None
    return float(history[column].tail(epochs).mean())


def mean_abs_step(history, column: str) -> float | None:
    """Mean absolute change of ``column`` from one epoch to the next (``None`` without it).

    Set side by side for the inference-mode test accuracy (moving batch-norm
    statistics) and the one with batch statistics: if the first swings and the
    second does not, the swings come from the moving statistics.
    """
    if history is None or column not in history or history[column].isna().all():
        return None
    steps = history[column].diff().abs().dropna()
    return float(steps.mean()) if len(steps) else None
