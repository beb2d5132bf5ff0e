"""Scores in inference mode beside training: the per-epoch test diagnostic and the final checks.

R's ``fit`` had no validation data, so nothing here may change what training
computes: the model runs with ``training=False`` (or, for the batch-statistics accuracy, with its
normalisation variables restored and dropout at rate 0), and no seed generator advances.
"""

from __future__ import annotations

import numpy as np

# Names Keras gives an accuracy metric, most common first.
ACCURACY_KEYS = ("accuracy", "acc", "binary_accuracy", "categorical_accuracy")


def accuracy_key(logs) -> str | None:
    return next((key for key in ACCURACY_KEYS if key in logs), None)


def scores(model, x, y, batch_size: int) -> tuple[float | None, float | None]:
    """Keras' ``evaluate``: ``(loss, accuracy)``, ``None`` for what the model does not compute."""
    logs = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    key = accuracy_key(logs)
    return float(logs["loss"]) if "loss" in logs else None, float(logs[key]) if key else None


def _layers(model, kind) -> list:
    return [layer for layer in model._flatten_layers(include_self=False) if isinstance(layer, kind)]


def epoch_diagnostic(model, test_data, batch_size: int):
    """What joins each completed epoch's history row, or ``None`` without test samples.

    ``test_accuracy_batch_stats`` tells weights that classify well from moving
    statistics lagging behind them (skipped under tf.distribute, whose mirrored
    variables a plain eager call may not assign).
    """
    import keras

    if test_data is None or len(test_data[0]) == 0:
        return None
    strategy = getattr(model, "distribute_strategy", None)
    single = strategy is None or strategy.num_replicas_in_sync == 1
    with_batch_stats = single and bool(_layers(model, keras.layers.BatchNormalization))

    def diagnose() -> dict:
        loss, accuracy = scores(model, *test_data, batch_size)
        row = {"test_loss": loss, "test_accuracy": accuracy}
        if with_batch_stats:
            accuracy = batch_statistics_accuracy(model, *test_data, batch_size)
            row["test_accuracy_batch_stats"] = accuracy
        return row

    return diagnose


def batch_statistics_accuracy(model, x, y, batch_size: int) -> float:
    """Accuracy with each batch normalised by its own statistics, dropout off.

    A transductive diagnostic: when the test accuracy swings from epoch to epoch while this holds,
    the moving averages lag the weights. Every variable is restored afterwards.
    """
    import keras

    layers = keras.layers
    norms, dropouts = _layers(model, layers.BatchNormalization), _layers(model, layers.Dropout)
    saved, rates = [[v.numpy() for v in n.variables] for n in norms], [d.rate for d in dropouts]
    correct = 0
    try:
        for layer in dropouts:
            layer.rate = 0.0
        for start in range(0, len(x), batch_size):
            pred = np.asarray(model(x[start : start + batch_size], training=True))
            truth = np.asarray(y[start : start + batch_size]).reshape(len(pred), -1)
            truth = truth.argmax(axis=1) if truth.shape[1] > 1 else np.rint(truth[:, 0])
            correct += int(np.sum(_classes(pred) == truth))
    finally:
        for layer, rate in zip(dropouts, rates):
            layer.rate = rate
        for layer, values in zip(norms, saved):
            for variable, value in zip(layer.variables, values):
                variable.assign(value)
    return correct / len(x)


def _classes(pred):
    """Above 0.5 for one output unit (``BinaryAccuracy``), else the largest unit."""
    pred = pred.reshape(len(pred), -1)
    return (pred[:, 0] > 0.5).astype(int) if pred.shape[1] == 1 else pred.argmax(axis=1)


def predicted_class_shares(model, x, batch_size: int) -> dict[str, float]:
    """The share of ``x`` predicted as each class, e.g. ``{"0": 0.45, "1": 0.55}``."""
    pred = np.asarray(model.predict(x, batch_size=batch_size, verbose=0)).reshape(len(x), -1)
    counts = np.bincount(_classes(pred), minlength=max(2, pred.shape[1]))
    return {str(c): float(n / len(pred)) for c, n in enumerate(counts)}


def nfe_reading(model, history) -> dict | None:
    """The ODE blocks' NFE: their last forward solve, and the mean of the history's column."""
    counts = [getattr(layer, "nfe", None) for layer in model._flatten_layers(include_self=False)]
    counts = [int(np.asarray(n)) for n in counts if n is not None and not callable(n)]
    column = [row["nfe"] for row in history if row.get("nfe") is not None]
    if not counts and not column:
        return None
    last = sum(counts) if counts else int(round(column[-1]))
    return {"last_forward": last, "mean_forward": float(np.mean(column)) if column else float(last)}
