"""Whether a run folder's previous run is resumed or started over, and if its settings match."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reproduce.engine.checkpoint import load_state
from reproduce.engine.failures import REPEATABLE_FAILURES
from reproduce.engine.metrics import json_safe, optimizer_summary
from reproduce.engine.runfolder import (
    CHECKPOINT_DIR,
    FAILED,
    FINISHED,
    INTERRUPTED,
    RUNNING,
    STATE_FILE,
    read_metrics,
    remove_run_files,
)
from reproduce.engine.spec import RunSpec
from reproduce.errors import ReproduceError

__all__ = ["check_config", "previous_state", "resume_config"]


def previous_state(spec: RunSpec, log: Callable[[str], None]) -> dict | None:
    """Decide between a fresh start and resuming; return the checkpoint state to resume.

    Starting over removes what the previous run wrote. A finished run is
    refused unless ``spec.force``.
    """
    run_dir = spec.run_dir
    if spec.force:
        remove_run_files(run_dir)
        return None
    previous = read_metrics(run_dir)
    if previous is None:
        remove_run_files(run_dir)  # stray history/checkpoint without metrics
        return None
    status = previous.get("status")
    if status == FINISHED:
        accuracy = previous.get("test_accuracy")
        score = f", test accuracy {accuracy:.4f}" if isinstance(accuracy, (int, float)) else ""
        other = _other_data(previous.get("data"), spec.metadata.get("data"))
        raise ReproduceError(
            f"{run_dir} already holds a finished run ({previous.get('epochs')} epochs"
            f"{score}){other}. Add --force to overwrite it, or choose another output folder."
        )
    if status not in (RUNNING, INTERRUPTED, FAILED):
        reason = f"its status {status!r} is unknown"
    elif status == FAILED and previous.get("error_kind") in REPEATABLE_FAILURES:
        reason = "it failed in a way resuming would repeat"
    elif not (run_dir / CHECKPOINT_DIR / STATE_FILE).exists():
        reason = "it had not completed an epoch"
    elif not spec.resume:
        reason = "resuming is off"
    else:
        return load_state(run_dir / CHECKPOINT_DIR)
    remove_run_files(run_dir)
    log(f"Starting over in {run_dir}: the run there was not finished and {reason}.")
    return None


def _sha256(data: Any) -> str | None:
    return data.get("sha256") if isinstance(data, Mapping) else None


def _other_data(there: Any, here: Any) -> str:
    """`` on other data (sha256 ... there, ... here)`` when both are known and differ, else ``""``.

    The folder name says real or stand-in data, not which file: two data
    files can map to the same folder.
    """
    stored, wanted = _sha256(there), _sha256(here)
    if stored is None or wanted is None or stored == wanted:
        return ""
    return f" trained on other data (data sha256 {stored} there, {wanted} here)"


def _arrays_sha256(arrays: Sequence[Any]) -> str:
    """Hash of the exact arrays (shape, dtype and bytes)."""
    import numpy as np

    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def resume_config(spec: RunSpec, model, arrays: Sequence[Any]) -> dict:
    """The settings that must match for a stored run to be resumed.

    ``arrays`` are ``(x_train, y_train)`` or ``(x_train, y_train, x_test, y_test)``.
    """
    data = spec.metadata.get("data")
    config = {
        "model": spec.metadata.get("model"),
        "preprocessing": spec.metadata.get("preprocessing"),
        "quick": spec.metadata.get("quick"),
        "epochs_planned": spec.epochs,
        "batch_size": spec.batch_size,
        "seed": spec.seed,
        "train_seed": spec.train_seed,
        "shuffle": bool(spec.shuffle),
        "data_sha256": _sha256(data),
        "arrays_sha256": _arrays_sha256(arrays),
        "n_train": len(arrays[0]),
        "n_test": len(arrays[2]) if len(arrays) > 2 else None,
        "params": int(model.count_params()),
        "optimizer": optimizer_summary(model.optimizer),
    }
    config.update({f"config.{key}": value for key, value in spec.resume_config.items()})
    return json_safe(config)


def check_config(spec: RunSpec, config: dict, stored: dict, epochs_done: int) -> None:
    """Refuse to resume a run stored with other settings, naming each difference."""
    differences = [
        f"{key}: {stored.get(key)!r} there, {value!r} here"
        for key, value in config.items()
        if stored.get(key) != value
    ]
    differences += [
        f"{key}: {stored[key]!r} there, absent here" for key in stored if key not in config
    ]
    if differences:
        other = _other_data(
            {"sha256": stored.get("data_sha256")}, {"sha256": config.get("data_sha256")}
        )
        raise ReproduceError(
            f"{spec.run_dir} holds an unfinished run ({epochs_done} of "
            f"{stored.get('epochs_planned')} epochs){other} with other settings ("
            + "; ".join(differences)
            + "). Rerun with that run's settings to resume it, add --force to start over, "
            "or choose another output folder."
        )
