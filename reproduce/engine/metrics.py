"""The contents of ``metrics.json`` and of the curves' title, from a run's progress."""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from reproduce import provenance
from reproduce.engine.curves import ACCURACY_KEYS
from reproduce.engine.progress import Progress
from reproduce.engine.runfolder import FAILED, FINISHED
from reproduce.engine.spec import RunSpec

__all__ = [
    "accuracy_key",
    "build_metrics",
    "count_params",
    "curves_title",
    "json_safe",
    "nfe_reading",
    "optimizer_summary",
]

# Metadata keys that steer the run and are not copied into metrics.json.
_NOT_RECORDED = ("config", "resume_command")


def json_safe(value: Any) -> Any:
    """Plain JSON types: NumPy scalars and arrays converted, NaN/inf -> None."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return json_safe(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json_safe(dataclasses.asdict(value))
    return str(value)  # paths, enums, anything else: its text


def accuracy_key(logs: Mapping[str, Any]) -> str | None:
    """The name Keras gave the accuracy metric in ``logs``, if it has one."""
    for key in ACCURACY_KEYS:
        if key in logs:
            return key
    return None


def optimizer_summary(optimizer) -> dict:
    config = optimizer.get_config()
    rate = config.get("learning_rate")
    if not isinstance(rate, (int, float)):
        rate = repr(rate)  # a schedule: compare its description
    return {"class": type(optimizer).__name__, "learning_rate": rate}


def count_params(variables) -> int:
    import numpy as np

    return int(sum(int(np.prod(v.shape)) for v in variables))


def _walk_layers(model):
    flatten = getattr(model, "_flatten_layers", None)
    if flatten is not None:
        return list(flatten(include_self=False, recursive=True))
    return list(getattr(model, "layers", []))


def nfe_reading(model, history: list[dict[str, float]]) -> dict | None:
    """NFE of the model's ODE blocks: last forward solve, and mean over the history.

    ``last_forward`` sums ``layer.nfe`` over the layers that expose it,
    read after the final evaluation (the forward solve of its last batch);
    ``mean_forward`` is the mean of the history's ``nfe`` column (Keras'
    per-epoch value of the metric), or ``last_forward`` without one.
    """
    import numpy as np

    counts = []
    for layer in _walk_layers(model):
        value = getattr(layer, "nfe", None)
        if value is None or callable(value):
            continue
        with contextlib.suppress(TypeError, ValueError):
            counts.append(int(np.asarray(value)))
    column = [row["nfe"] for row in history if row.get("nfe") is not None]
    if not counts and not column:
        return None
    last = sum(counts) if counts else int(round(column[-1]))
    mean = float(np.mean(column)) if column else float(last)
    return {"last_forward": last, "mean_forward": mean}


def curves_title(spec: RunSpec, epochs_done: int, status: str) -> str:
    """E.g. "dense (r preprocessing), Kaggle data: 3 of 150 epochs, interrupted"."""
    meta = spec.metadata
    name = str(meta.get("model") or "model")
    if meta.get("preprocessing"):
        name += f" ({meta['preprocessing']} preprocessing)"
    data = meta.get("data") or {}
    kind = data.get("kind") if isinstance(data, Mapping) else None
    data_text = {"real": "Kaggle data", "stand-in": "stand-in data"}.get(kind, "data")
    if epochs_done == spec.epochs:
        epochs = f"{epochs_done} epochs"
    else:
        epochs = f"{epochs_done} of {spec.epochs} epochs"
    if status != FINISHED:
        epochs += f", {status}"
    quick = ", quick run" if meta.get("quick") else ""
    return f"{name}, {data_text}: {epochs}{quick}"


def build_metrics(
    status: str,
    *,
    spec: RunSpec,
    progress: Progress,
    model,
    command: tuple[str, list[str]],
    found: Mapping[str, Any],
    sizes: tuple[int | None, int | None],
) -> dict:
    """What ``metrics.json`` holds (JSON-safe) for a run in ``status``.

    ``command`` is ``(command, argv)``, ``found`` the session's provenance
    (``versions``, ``git_commit``, ``hardware``), ``sizes`` the number of
    training and test samples.
    """
    meta = spec.metadata
    last = progress.history[-1] if progress.history else {}
    key = accuracy_key(last)
    trained = sum(progress.epoch_seconds)
    completed = len(progress.history)
    results = progress.results
    metrics = {
        "model": meta.get("model"),
        "preprocessing": meta.get("preprocessing"),
        "status": status,
        "epochs": completed,
        "epochs_planned": spec.epochs,
        "batch_size": spec.batch_size,
        "seed": spec.seed,
        "train_seed": spec.train_seed,
        "quick": bool(meta.get("quick", False)),
        "test_loss": None,
        "test_accuracy": None,
        "train_loss": last.get("loss"),
        "train_accuracy": last.get(key) if key else None,
        "train_loss_inference": None,
        "train_accuracy_inference": None,
        "predicted_class_shares": None,
        "r_style_test_accuracy": None,
        "params": int(model.count_params()) if model is not None else None,
        "trainable_params": count_params(model.trainable_weights) if model is not None else None,
        "wall_time_s": trained + results.get("_evaluation_s", 0.0),
        "seconds_per_epoch": trained / completed if completed else None,
        "nfe": None,
        "command": command[0],
        "argv": command[1],
        "data": meta.get("data"),
        "versions": found["versions"],
        "git_commit": found["git_commit"],
        "date": progress.started,
        "hardware": found["hardware"],
        "deterministic": bool(spec.deterministic),
        "shuffle": bool(spec.shuffle),
        "n_train": sizes[0],
        "n_test": sizes[1],
        "optimizer": optimizer_summary(model.optimizer) if model is not None else None,
        "sessions": progress.sessions,
        "finished_at": provenance.utc_now() if status == FINISHED else None,
    }
    if status == FAILED:
        metrics["error"] = progress.error
        metrics["error_kind"] = progress.error_kind
    # Metadata may fill the two results a script computes itself, never the rest.
    reserved = set(metrics) - {"r_style_test_accuracy", "nfe"}
    for name, value in meta.items():
        if name not in reserved and name not in _NOT_RECORDED:
            metrics[name] = value
    metrics.update({k: v for k, v in results.items() if not k.startswith("_")})
    return json_safe(metrics)
