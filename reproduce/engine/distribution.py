"""Training on several local devices with TensorFlow's own ``tf.distribute.MirroredStrategy``.

``--distribute mirrored`` copies the model to every local device (the GPUs,
or the CPU) and splits each batch of ``--batch-size`` images across them; the
replicas' gradients are summed, so the numbers stay those of one device up to
rounding. One strategy per process, made on first use and shared by the models
of ``all``.

Several machines (``tf.distribute.MultiWorkerMirroredStrategy``) are not
offered: Keras 3's ``model.fit`` fails under that strategy before the first
step (``_maybe_symbolic_build`` reduces a ``PerReplica`` batch eagerly, then
the train step's cross-replica sum of a scalar fails; keras-team/keras#20585,
open as of Keras 3.15).
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any

from reproduce.errors import ReproduceError

__all__ = ["STRATEGIES", "describe", "model_scope", "strategy"]

STRATEGIES = ("mirrored",)


@functools.cache
def strategy(name: str | None):
    """The process's strategy for ``name`` (``None``: no strategy, TensorFlow's default)."""
    if name is None:
        return None
    if name not in STRATEGIES:
        raise ReproduceError(f"--distribute must be one of {', '.join(STRATEGIES)}, not {name!r}")
    import tensorflow as tf

    return tf.distribute.MirroredStrategy()


def model_scope(name: str | None):
    """The context to build and compile a model in, so that its variables are distributed."""
    chosen = strategy(name)
    return contextlib.nullcontext() if chosen is None else chosen.scope()


def describe(name: str | None) -> dict[str, Any] | None:
    """What ``metrics.json`` records: the strategy and its number of replicas."""
    chosen = strategy(name)
    if chosen is None:
        return None
    devices = [str(d) for d in chosen.extended.worker_devices]
    return {"strategy": name, "replicas": int(chosen.num_replicas_in_sync), "devices": devices}
