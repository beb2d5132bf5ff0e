"""A model or its weights as bytes in memory, so that a full disk fails in Python's write.

HDF5 handles a failed write badly (raw errors, leaked objects, once a SIGSEGV).
Keras' public API saves to paths only; its private ``saving_lib`` writes to
file objects. Where that is missing, we save to a private temporary folder.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path


def _saving_lib():
    try:
        from keras.src.saving import saving_lib
    except ImportError:
        return None
    needed = ("save_model", "H5IOStore", "_save_state")
    return saving_lib if all(hasattr(saving_lib, name) for name in needed) else None


def _through_temporary_file(save, name: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="reproduce-save-") as folder:
        save(Path(folder) / name)
        return (Path(folder) / name).read_bytes()


def model_bytes(model) -> bytes:
    """The ``.keras`` file of ``model``; raises what Keras raises for a model it cannot save."""
    saving_lib = _saving_lib()
    if saving_lib is None:
        return _through_temporary_file(model.save, "model.keras")
    buffer = io.BytesIO()
    saving_lib.save_model(model, buffer)
    return buffer.getvalue()


def weights_bytes(model) -> bytes:
    """The ``.weights.h5`` file of ``model``: weights and optimizer variables."""
    saving_lib = _saving_lib()
    if saving_lib is not None:
        buffer = io.BytesIO()
        store = saving_lib.H5IOStore(buffer, mode="w")
        # What saving_lib.save_weights_only does once its store is open.
        saving_lib._save_state(
            model, weights_store=store, assets_store=None, inner_path="", visited_saveables=set()
        )
        store.close()
        return buffer.getvalue()
    return _through_temporary_file(model.save_weights, "model.weights.h5")
