"""The checkpoint of an unfinished run: weights + optimizer state, and the progress to resume.

``checkpoint/`` holds ``epoch-NNNN.weights.h5`` (Keras' weights file, which
also holds the optimizer's variables: iteration counter, Adam moments) and
``state.json`` (configuration, history, epoch times, sessions).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from reproduce.atomic import atomic_write_bytes, atomic_write_json
from reproduce.engine.metrics import json_safe
from reproduce.engine.progress import Progress
from reproduce.engine.runfolder import STATE_FILE
from reproduce.engine.serialise import weights_bytes
from reproduce.errors import ReproduceError

__all__ = ["load_state", "restore_weights", "save_checkpoint"]


def save_checkpoint(checkpoint_dir: Path, model, config: dict, progress: Progress) -> None:
    """Save the model after ``progress.epochs_done`` epochs, then the state naming it."""
    epoch = progress.epochs_done
    checkpoint_dir.mkdir(exist_ok=True)
    name = f"epoch-{epoch:04d}.weights.h5"
    # Serialised in memory, written by Python: see reproduce.engine.serialise.
    atomic_write_bytes(checkpoint_dir / name, weights_bytes(model))
    state = {
        "format": 1,
        "epoch": epoch,
        "weights": name,
        "config": config,
        "history": progress.history,
        "epoch_seconds": progress.epoch_seconds,
        "sessions": progress.sessions,
        "date": progress.started,
    }
    # The state names the weights file, so it is written after it: a kill in
    # between leaves the previous state pointing at the previous weights.
    atomic_write_json(checkpoint_dir / STATE_FILE, json_safe(state))
    for old in checkpoint_dir.glob("epoch-*.weights.h5"):
        if old.name != name:
            with contextlib.suppress(OSError):
                old.unlink()


def load_state(checkpoint_dir: Path) -> dict:
    """The checkpoint's state, after checking that its weights file is there.

    Raises:
        ReproduceError: the state is unreadable or its weights file is missing.
    """
    try:
        state = json.loads((checkpoint_dir / STATE_FILE).read_text(encoding="utf-8"))
        weights = checkpoint_dir / state["weights"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ReproduceError(
            f"the checkpoint in {checkpoint_dir} is unreadable ({err}); add --force to "
            "start the run over."
        ) from None
    if not weights.exists():
        raise ReproduceError(
            f"the checkpoint in {checkpoint_dir} lacks {weights.name}; add --force to "
            "start the run over."
        )
    return state


def restore_weights(model, checkpoint_dir: Path, state: dict) -> None:
    """Load the checkpoint's weights and optimizer state into ``model``."""
    optimizer = model.optimizer
    if not optimizer.built:
        # The optimizer's variables must exist for the weights file to fill them.
        optimizer.build(model.trainable_variables)
    try:
        model.load_weights(checkpoint_dir / state["weights"])
    except Exception as err:  # h5py/Keras raise many types for a damaged file
        raise ReproduceError(
            f"cannot load the checkpoint {checkpoint_dir / state['weights']} ({err}); "
            "add --force to start the run over."
        ) from None
