"""A model, or its weights, as bytes in memory: no library writes into the run folder itself.

Why: HDF5 (through h5py) handles a failed write badly. On a full disk it
prints raw HDF5 errors, leaves objects it cannot release, and has crashed the
process with SIGSEGV while a checkpoint was written. Serialised in memory and
written by Python (:mod:`reproduce.atomic`), a full disk is a plain
:class:`OSError` (ENOSPC) naming the file, and the run folder stays as it was.

Keras 3's public API saves to paths only. Its saving module
(``keras.src.saving.saving_lib``) writes a whole ``.keras`` archive to a file
object, and an HDF5 weights store to a ``BytesIO``. Measured on Keras 3.15:
the in-memory ``.keras`` archive is byte for byte the size of
``model.save``'s, loads back with equal predictions, and the in-memory
weights file restores weights and optimizer variables exactly through
``model.load_weights``. These are private names: where they are missing or
refuse a file object, the model is saved to a private temporary folder
(:mod:`tempfile`, normally another file system than the run folder) and read
back, as a fallback.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from pathlib import Path

from reproduce.atomic import atomic_write_bytes
from reproduce.engine.failures import first_line

__all__ = ["model_bytes", "save_model_file", "weights_bytes"]


def _saving_lib():
    """Keras' saving module, or ``None`` if this Keras lacks what we use of it."""
    try:
        from keras.src.saving import saving_lib
    except ImportError:
        return None
    needed = ("save_model", "H5IOStore", "_save_state")
    return saving_lib if all(hasattr(saving_lib, name) for name in needed) else None


def _through_temporary_file(save, name: str) -> bytes:
    """The bytes ``save(path)`` writes to ``name`` in a private temporary folder."""
    with tempfile.TemporaryDirectory(prefix="reproduce-save-") as folder:
        path = Path(folder) / name
        save(path)
        return path.read_bytes()


def model_bytes(model) -> bytes:
    """The ``.keras`` file of ``model`` (architecture, weights, optimizer state).

    Raises what Keras raises for a model it cannot serialise.
    """
    saving_lib = _saving_lib()
    if saving_lib is None:
        return _through_temporary_file(model.save, "model.keras")
    buffer = io.BytesIO()
    saving_lib.save_model(model, buffer)
    return buffer.getvalue()


def weights_bytes(model) -> bytes:
    """The ``.weights.h5`` file of ``model`` (weights and optimizer variables)."""
    saving_lib = _saving_lib()
    if saving_lib is not None:
        buffer = io.BytesIO()
        try:
            store = saving_lib.H5IOStore(buffer, mode="w")
        except (TypeError, ValueError):  # a Keras whose store takes paths only
            store = None
        if store is not None:
            # What saving_lib.save_weights_only does after opening its store;
            # that function itself accepts file names only.
            saving_lib._save_state(
                model,
                weights_store=store,
                assets_store=None,
                inner_path="",
                visited_saveables=set(),
            )
            store.close()
            return buffer.getvalue()
    return _through_temporary_file(model.save_weights, "model.weights.h5")


def save_model_file(model, path: Path, warn: Callable[[str], None]) -> bool:
    """Write ``model``'s ``.keras`` file to ``path`` atomically; ``False`` if it cannot be serialised.

    Only a model Keras cannot serialise is reported through ``warn`` (the
    run's results must not be lost for it); a failed write (:class:`OSError`:
    a full disk, a read-only folder) propagates.
    """
    try:
        data = model_bytes(model)
    except OSError:
        raise
    except Exception as exc:
        warn(
            f"warning: the trained model could not be saved as {path.name}: {first_line(str(exc))}"
        )
        return False
    atomic_write_bytes(path, data)
    return True
