"""Training on several local devices with TensorFlow's own ``tf.distribute.MirroredStrategy``.

``--distribute mirrored`` copies the model to every local device (the GPUs,
or the CPU) and splits each batch of ``--batch-size`` images across them; the
replicas' gradients are summed, so the numbers stay those of one device up to
rounding. One strategy per process, made on first use and shared by the models
of ``all``.

``--distribute multiworker`` trains on several workers (processes, on one
machine or several) with ``tf.distribute.MultiWorkerMirroredStrategy``, each
told its place by ``TF_CONFIG``; :mod:`reproduce.engine.multiworker` says how
Keras 3's ``fit`` is made to run under it and which worker writes the run
folder.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any

from reproduce.engine.multiworker import cluster
from reproduce.errors import ReproduceError

__all__ = ["STRATEGIES", "describe", "model_scope", "strategy"]

STRATEGIES = ("mirrored", "multiworker")


@functools.cache
def strategy(name: str | None):
    """The process's strategy for ``name`` (``None``: no strategy, TensorFlow's default)."""
    if name is None:
        return None
    if name not in STRATEGIES:
        raise ReproduceError(f"--distribute must be one of {', '.join(STRATEGIES)}, not {name!r}")
    import tensorflow as tf

    if name == "multiworker":
        # Reads TF_CONFIG and waits for every worker of the cluster to connect.
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.MirroredStrategy()


def model_scope(name: str | None):
    """The context to build and compile a model in, so that its variables are distributed."""
    chosen = strategy(name)
    return contextlib.nullcontext() if chosen is None else chosen.scope()


def describe(name: str | None) -> dict[str, Any] | None:
    """What ``metrics.json`` records: the strategy, its replicas and (multiworker) workers.

    ``devices`` are this process's own; under ``multiworker``, ``replicas``
    counts those of all workers, ``task`` is the worker that wrote the file.
    """
    chosen = strategy(name)
    if chosen is None:
        return None
    devices = [str(d) for d in chosen.extended.worker_devices]
    described = {"strategy": name, "replicas": int(chosen.num_replicas_in_sync), "devices": devices}
    if name == "multiworker":
        found = cluster()
        described["workers"] = found["workers"]
        described["task"] = f"{found['task_type']}:{found['task_index']}"
    return described
