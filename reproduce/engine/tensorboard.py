"""TensorBoard logs of a run: Keras' own ``TensorBoard`` callback, completed epochs only.

Imports Keras at module level (it subclasses ``keras.callbacks.TensorBoard``),
so nothing imports this module until a run asks for TensorBoard logs.
"""

from __future__ import annotations

import math
import os

import keras

__all__ = ["CompletedEpochsTensorBoard"]


class CompletedEpochsTensorBoard(keras.callbacks.TensorBoard):
    """Keras' ``TensorBoard`` callback that writes an epoch's scalars only once the epoch completed.

    The engine drops an epoch cut short by a signal or a non-finite loss and
    trains it again on resume; Keras' callback would log it twice (once
    partial). Everything else (``epoch_loss``, ``epoch_accuracy``, ``epoch_nfe``
    for an ODE model, the graph) is Keras' behaviour unchanged; with the
    engine's ``initial_epoch`` a resumed run continues the same curves.
    """

    def __init__(self, log_dir: str | os.PathLike, **kwargs) -> None:
        kwargs.setdefault("profile_batch", 0)  # profiling is a separate, heavy tool
        super().__init__(log_dir=os.fspath(log_dir), **kwargs)
        self._batches_done = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._batches_done = 0
        super().on_epoch_begin(epoch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._batches_done = int(batch) + 1
        super().on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        complete = self._batches_done == self.params.get("steps")
        loss = (logs or {}).get("loss")
        if complete and (loss is None or math.isfinite(float(loss))):
            super().on_epoch_end(epoch, logs)
