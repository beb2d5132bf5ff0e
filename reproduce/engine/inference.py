"""Scores in inference mode beside training: a per-epoch test diagnostic and the final checks.

R's ``fit`` in the report had no validation data, so nothing here may change
what training computes. Everything below runs the model with
``training=False``: dropout draws no masks, batch normalisation reads its
moving statistics without updating them, and no seed generator advances, so a
run's training history is the same to the last digit with or without these
scores (``tests/test_inference.py`` checks it under ``deterministic=True``).

* :func:`epoch_diagnostic`: the test loss and accuracy after every completed
  epoch, recorded in ``history.csv`` as ``test_loss``/``test_accuracy``;
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

__all__ = ["epoch_diagnostic", "final_scores", "inference_scores", "predicted_class_shares"]


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

    def diagnose() -> dict[str, float | None]:
        scores = inference_scores(model, x_test, y_test, batch_size)
        return {"test_loss": scores["loss"], "test_accuracy": scores["accuracy"]}

    return diagnose


def predicted_class_shares(model, x, batch_size: int) -> dict[str, float]:
    """The share of ``x`` predicted as each class: ``{"0": 0.45, "1": 0.55}``.

    A one-unit output predicts class 1 above 0.5 (``BinaryAccuracy``'s
    threshold); a several-unit output its largest unit.
    """
    import numpy as np

    pred = np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
    pred = pred.reshape(len(pred), -1)
    if pred.shape[1] == 1:
        classes, n_classes = (pred[:, 0] > 0.5).astype(int), 2
    else:
        classes, n_classes = pred.argmax(axis=1), pred.shape[1]
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
