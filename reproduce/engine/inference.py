"""Scores in inference mode beside training: a per-epoch test diagnostic and the final checks.

R's ``fit`` in the report had no validation data, so nothing here may change
what training computes. Everything below runs the model with
``training=False``: dropout draws no masks, batch normalisation reads its
moving statistics without updating them, and no seed generator advances, so a
run's training history is the same to the last digit with or without these
scores (``tests/test_inference.py`` checks it under ``deterministic=True``).

* :func:`epoch_diagnostic`: the test loss and accuracy after every completed
  epoch, recorded in ``history.csv`` as ``test_loss``/``test_accuracy``; for a
  model with batch normalisation also ``test_accuracy_batch_stats``
  (:func:`batch_statistics_accuracy`), which tells a network whose weights
  classify well from one whose moving statistics lag behind its weights;
* :func:`final_scores`: at the end, the test scores, the training set's loss and accuracy in
  inference mode (``train_loss_inference``/``train_accuracy_inference``,
  beside Keras' running means over the last epoch, which mix dropout and
  batch statistics) and the shares of the predicted classes on the test set
  (``predicted_class_shares``), which name a constant classifier as one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reproduce.engine.metrics import accuracy_key

__all__ = [
    "batch_norm_and_dropout_layers",
    "batch_statistics_accuracy",
    "epoch_diagnostic",
    "final_scores",
    "inference_scores",
    "predicted_class_shares",
]


def inference_scores(model, x, y, batch_size: int) -> dict[str, float | None]:
    """Keras' ``evaluate`` on ``(x, y)``: ``{"loss": ..., "accuracy": ...}`` (``None`` without)."""
    scores = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    key = accuracy_key(scores)
    return {
        "loss": float(scores["loss"]) if "loss" in scores else None,
        "accuracy": float(scores[key]) if key else None,
    }


def epoch_diagnostic(
    model, test_data: tuple[Any, Any] | None, batch_size: int
) -> Callable[[], dict[str, float | None]] | None:
    """What to add to each completed epoch's history row, or ``None`` without test samples."""
    if test_data is None or len(test_data[0]) == 0:
        return None
    x_test, y_test = test_data
    with_batch_stats = bool(batch_norm_and_dropout_layers(model)[0]) and _single_device(model)

    def diagnose() -> dict[str, float | None]:
        scores = inference_scores(model, x_test, y_test, batch_size)
        row = {"test_loss": scores["loss"], "test_accuracy": scores["accuracy"]}
        if with_batch_stats:
            row["test_accuracy_batch_stats"] = batch_statistics_accuracy(
                model, x_test, y_test, batch_size
            )
        return row

    return diagnose


def batch_norm_and_dropout_layers(model) -> tuple[list, list]:
    """The model's batch normalisation layers and its dropout layers, nested ones included.

    The two layers that behave otherwise in training and in inference; the
    diagnostics here and ``benchmarks/bn_lag.py`` switch them one at a time.
    """
    import keras

    layers = list(model._flatten_layers(include_self=False))
    norms = [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]
    dropouts = [layer for layer in layers if isinstance(layer, keras.layers.Dropout)]
    return norms, dropouts


def _single_device(model) -> bool:
    # A model built under tf.distribute holds mirrored variables, which a plain
    # eager call may not assign to; the diagnostic is skipped there.
    strategy = getattr(model, "distribute_strategy", None)
    return strategy is None or strategy.num_replicas_in_sync == 1


def batch_statistics_accuracy(model, x, y, batch_size: int) -> float:
    """Accuracy on ``(x, y)`` with each batch normalised by its own statistics, dropout off.

    In inference mode a batch normalisation layer uses its moving averages,
    taken in training, with dropout on, over about ``1 / (1 - momentum)``
    batches (100 at Keras' 0.99, two and a half epochs of R's 41 batches)
    during which the weights changed. When the test accuracy swings from one
    epoch to the next while this one holds, the swings come from those
    statistics, not from what the weights learnt (``benchmarks/bn_lag.py``
    tells the averages' lag from dropout's share). The batches are the usual
    ``batch_size`` consecutive samples, so each sees the statistics of 32 test
    images (a transductive score: a diagnostic, not a result). Every batch
    normalisation variable is restored afterwards and no random generator
    advances (dropout's rate is 0 for the call), so training is unchanged
    (``tests/test_inference.py``).
    """
    import numpy as np

    norms, dropouts = batch_norm_and_dropout_layers(model)
    saved = [[v.numpy() for v in layer.variables] for layer in norms]
    rates = [layer.rate for layer in dropouts]
    correct = 0
    try:
        for layer in dropouts:
            layer.rate = 0.0
        for start in range(0, len(x), batch_size):
            pred = np.asarray(model(x[start : start + batch_size], training=True))
            truth = np.asarray(y[start : start + batch_size])
            correct += int(np.sum(_predicted_classes(pred) == _true_classes(truth)))
    finally:
        for layer, rate in zip(dropouts, rates):
            layer.rate = rate
        for layer, values in zip(norms, saved):
            for variable, value in zip(layer.variables, values):
                variable.assign(value)
    return correct / len(x)


def _predicted_classes(pred):
    """Class per sample: above 0.5 for one output unit (``BinaryAccuracy``), else the largest."""
    pred = pred.reshape(len(pred), -1)
    return (pred[:, 0] > 0.5).astype(int) if pred.shape[1] == 1 else pred.argmax(axis=1)


def _true_classes(truth):
    """The labels as classes: a one-hot's largest entry, or the label itself rounded."""
    import numpy as np

    truth = truth.reshape(len(truth), -1)
    return truth.argmax(axis=1) if truth.shape[1] > 1 else np.rint(truth[:, 0]).astype(int)


def predicted_class_shares(model, x, batch_size: int) -> dict[str, float]:
    """The share of ``x`` predicted as each class: ``{"0": 0.45, "1": 0.55}``.

    A one-unit output predicts class 1 above 0.5 (``BinaryAccuracy``'s
    threshold); a several-unit output its largest unit.
    """
    import numpy as np

    pred = np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
    pred = pred.reshape(len(pred), -1)
    classes, n_classes = _predicted_classes(pred), max(2, pred.shape[1])
    counts = np.bincount(classes, minlength=n_classes)
    return {str(c): float(counts[c] / len(classes)) for c in range(n_classes)}


def final_scores(model, test_data, train_data, batch_size: int) -> dict[str, Any]:
    """What ``metrics.json`` gets at the end, all in inference mode.

    ``test_loss``/``test_accuracy`` (``None`` without test samples),
    ``train_loss_inference``/``train_accuracy_inference`` and
    ``predicted_class_shares`` (on the test set).
    """
    x_test, y_test = test_data
    results: dict[str, Any] = {"test_loss": None, "test_accuracy": None}
    if len(x_test):
        scores = inference_scores(model, x_test, y_test, batch_size)
        results.update(test_loss=scores["loss"], test_accuracy=scores["accuracy"])
    if train_data is not None:
        scores = inference_scores(model, *train_data, batch_size)
        results["train_loss_inference"] = scores["loss"]
        results["train_accuracy_inference"] = scores["accuracy"]
    if len(x_test):
        results["predicted_class_shares"] = predicted_class_shares(model, x_test, batch_size)
    return results
