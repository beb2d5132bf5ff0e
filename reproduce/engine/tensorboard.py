"""Keras' ``TensorBoard`` callback, logging an epoch only once it completed."""

from __future__ import annotations

import math
import os

import keras


class CompletedEpochsTensorBoard(keras.callbacks.TensorBoard):
    """An epoch cut short by a signal or a NaN is trained again on resume: log it once, whole."""

    def __init__(self, log_dir: str | os.PathLike, **kwargs) -> None:
        kwargs.setdefault("profile_batch", 0)
        super().__init__(log_dir=os.fspath(log_dir), **kwargs)
        self._batches_done = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._batches_done = 0
        super().on_epoch_begin(epoch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._batches_done = int(batch) + 1
        super().on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if self._batches_done == self.params.get("steps") and (
            loss is None or math.isfinite(float(loss))
        ):
            super().on_epoch_end(epoch, logs)
