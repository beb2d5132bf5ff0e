"""Training on several workers with ``tf.distribute.MultiWorkerMirroredStrategy``.

``--distribute multiworker`` runs one process per worker, each told the
cluster and its own place in it by the ``TF_CONFIG`` environment variable
(TensorFlow's convention)::

    TF_CONFIG='{"cluster": {"worker": ["localhost:12345", "localhost:12346"]},
                "task": {"type": "worker", "index": 0}}'

Every worker runs the same command on the same data; each batch of
``--batch-size`` images is split across the replicas of all workers and their
gradients are summed, so the numbers are those of one process up to rounding.

**Keras 3's ``model.fit`` under this strategy.** Keras 3.15 fails before the
first step (keras-team/keras#20585): its ``_maybe_symbolic_build`` reduces the
first distributed batch with ``strategy.reduce("MEAN", ..., axis=None)``,
which ``MultiWorkerMirroredStrategy`` cannot do eagerly, and the train and
test steps average their scalar logs with ``strategy.reduce("MEAN", v,
axis=0)``, which has no axis 0 to reduce. :func:`adapt` mends both on the
model instance, without touching Keras: the symbolic build (which needs only
the shapes of a batch) reads the local replica's part of the batch, and the
steps return their scalar logs with shape ``[1]``, so the cross-worker mean
over axis 0 is the mean over the replicas, as under ``MirroredStrategy``.

**Which worker writes what.** Only the chief (task 0 of ``worker``, or the
``chief`` task when the cluster names one) writes the run folder: results,
history, checkpoints, ``model.keras``. Every other worker runs the same steps
(collective operations need all of them) but writes into a temporary folder
of its own, removed when the process ends, the convention of Keras' and
TensorFlow's multi-worker checkpointing. It starts from a copy of the chief's
folder, so that a resumed (or finished) run is resumed (or refused) alike by
all workers; that needs the folder to be visible to every worker (one
machine, or a shared file system).
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from reproduce.errors import ReproduceError

__all__ = ["adapt", "cluster", "is_multiworker", "worker_spec"]

NAME = "multiworker"


def cluster(environ=None) -> dict[str, Any]:
    """The cluster ``TF_CONFIG`` describes: workers, this task, whether it is the chief.

    Without ``TF_CONFIG`` the process is a cluster of one worker (its chief).
    """
    text = (os.environ if environ is None else environ).get("TF_CONFIG", "")
    if not text.strip():
        return {"workers": 1, "task_type": "worker", "task_index": 0, "chief": True}
    try:
        config = json.loads(text)
        members = config.get("cluster", {})
        task = config.get("task", {})
        task_type, task_index = str(task["type"]), int(task.get("index", 0))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ReproduceError(f"TF_CONFIG is not a cluster description: {exc}") from None
    workers = len(members.get("worker", [])) + len(members.get("chief", []))
    chief = task_type == "chief" or (
        task_type == "worker" and task_index == 0 and not members.get("chief")
    )
    return {"workers": workers, "task_type": task_type, "task_index": task_index, "chief": chief}


def is_multiworker(metadata) -> bool:
    """Whether a run's metadata says it trains under ``--distribute multiworker``."""
    described = (metadata or {}).get("distribute") or {}
    return described.get("strategy") == NAME


def worker_spec(spec):
    """``spec`` itself on the chief; on another worker, ``spec`` writing to a temporary folder.

    The temporary folder starts as a copy of the chief's run folder (what
    exists of it), so resuming and refusing a finished run go alike on every
    worker; it is removed when the process exits.
    """
    if not is_multiworker(spec.metadata) or cluster()["chief"]:
        return spec
    scratch = Path(tempfile.mkdtemp(prefix=f"worker-{cluster()['task_index']}-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    mine = scratch / spec.run_dir.name
    if spec.run_dir.is_dir():
        try:
            shutil.copytree(spec.run_dir, mine)
        except shutil.Error:  # a file the chief replaced meanwhile: the rest is copied
            pass
    return dataclasses.replace(spec, run_dir=mine)


def adapt(model):
    """Let Keras' ``fit``/``evaluate`` run ``model`` under ``MultiWorkerMirroredStrategy``.

    A no-op under any other strategy or with one worker. See the module
    docstring for what it mends (keras-team/keras#20585).
    """
    import tensorflow as tf

    strategy = getattr(model, "distribute_strategy", None)  # a Keras model has one
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return model
    if cluster()["workers"] < 2 or getattr(model, "_multiworker_adapted", False):
        return model
    if not hasattr(model, "_symbolic_build"):  # a Keras that no longer has what we mend
        raise ReproduceError(
            "--distribute multiworker: this Keras lacks Model._symbolic_build, which the "
            "workaround for keras-team/keras#20585 relies on"
        )

    def local_part(value):
        return strategy.experimental_local_results(value)[0]

    def maybe_symbolic_build(iterator=None, data_batch=None):
        # Keras reduces the distributed batch across workers only to learn its shapes.
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(local_part, next(batches))
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    def with_axis(step):
        def wrapped(data):
            logs = step(data)
            return tf.nest.map_structure(
                lambda v: tf.reshape(v, [1]) if v.shape.rank == 0 else v, logs
            )

        return wrapped

    model._maybe_symbolic_build = maybe_symbolic_build
    model.train_step = with_axis(model.train_step)
    model.test_step = with_axis(model.test_step)
    model._multiworker_adapted = True
    return model
