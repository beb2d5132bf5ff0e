"""The Keras callback that drives the epochs of a run's single ``fit`` call.

Imports Keras at module level (it subclasses ``keras.callbacks.Callback``), so
the engine imports this module only when it trains.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import keras

from reproduce.engine.seeding import seed_epoch
from reproduce.engine.signals import StopRequest

__all__ = ["EpochDriver"]


class EpochDriver(keras.callbacks.Callback):
    """Seeds each epoch, stops on a non-finite loss or a signal, reports complete epochs.

    Before each epoch it reseeds (see :func:`reproduce.engine.seeding.seed_epoch`);
    after each batch it stops ``fit`` if the loss is not finite or ``request``
    is set; after each *complete* epoch it calls
    ``on_epoch_completed(epoch, logs, seconds)`` (0-based ``epoch``), which
    saves the checkpoint and the files. An epoch cut short (signal, NaN) is
    never reported. ``diagnose``, when given, is called after each complete
    epoch (its training time measured first) and its scores join that epoch's
    row. After ``fit``, ``bad_batch``/``bad_loss``/``bad_epoch``
    (1-based) say where a non-finite loss appeared, if one did.
    """

    def __init__(
        self,
        *,
        seed: int,
        steps: int,
        request: StopRequest,
        on_epoch_completed: Callable[[int, Mapping[str, Any], float], None],
        diagnose: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        self.seed = int(seed)
        self.steps = int(steps)
        self.request = request
        self.on_epoch_completed = on_epoch_completed
        self.diagnose = diagnose
        self.batches_done = 0
        self.bad_batch: int | None = None
        self.bad_loss: float | None = None
        self.bad_epoch: int | None = None
        self.began = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        seed_epoch(self.model, self.seed, int(epoch))
        self.batches_done = 0
        self.began = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.batches_done = int(batch) + 1
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.bad_batch, self.bad_loss = int(batch) + 1, float(loss)
            self.model.stop_training = True
        elif self.request:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.bad_batch is not None:
            self.bad_epoch = int(epoch) + 1
        elif self.batches_done == self.steps:
            seconds = time.perf_counter() - self.began
            # a copy: the other callbacks (TensorBoard) see Keras' own logs
            row = {**(logs or {}), **(self.diagnose() if self.diagnose else {})}
            self.on_epoch_completed(int(epoch), row, seconds)
            if self.request:  # a signal during the last batch or the saving
                self.model.stop_training = True
