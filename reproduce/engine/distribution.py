"""``--distribute mirrored|multiworker``: TensorFlow's strategies around Keras' ``fit``. Under
``multiworker`` (places from ``TF_CONFIG``) only the chief writes the run folder; the others train
into a temporary copy of it, Keras' own convention."""

import atexit
import contextlib
import functools
import json
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

from reproduce.errors import ReproduceError

STRATEGIES = ("mirrored", "multiworker")


@functools.cache
def strategy(name: str | None):
    """The process's one strategy for ``name`` (``None``: TensorFlow's default)."""
    if name is None:
        return None
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    wait_for_workers()
    return tf.distribute.MultiWorkerMirroredStrategy()


def wait_for_workers(poll: float = 0.5) -> None:
    """Wait until every task of ``TF_CONFIG`` listens, listening on this task's port meanwhile.
    TensorFlow's own wait holds the GIL and takes over SIGTERM, so a worker that never starts would
    hang it beyond any signal; this wait stops at Ctrl-C or SIGTERM, before anything was written."""
    if not os.environ.get("TF_CONFIG", "").strip():
        return
    found, members = cluster(), json.loads(os.environ["TF_CONFIG"])["cluster"]
    try:
        mine = members[found["task_type"]][found["task_index"]]
        server = socket.create_server(("", int(mine.rsplit(":", 1)[1])))
    except (LookupError, OSError, ValueError) as exc:
        raise ReproduceError(f"TF_CONFIG: this task cannot listen at its address ({exc})") from None
    waiting = {a for job in ("chief", "worker") for a in members.get(job, []) if a != mine}
    told = None
    with server:
        while waiting:
            for address in sorted(waiting):
                host, port = address.rsplit(":", 1)
                with contextlib.suppress(OSError, ValueError):
                    socket.create_connection((host, int(port)), 1).close()
                    waiting.discard(address)
            if waiting and told != waiting:
                told = set(waiting)
                print(f"waiting for the workers at {', '.join(sorted(waiting))} (Ctrl-C stops)")
            time.sleep(poll if waiting else 4 * poll)  # then stay reachable for slower workers


def model_scope(name: str | None):
    """Build and compile a model in this, so that its variables are distributed."""
    return contextlib.nullcontext() if name is None else strategy(name).scope()


def cluster(environ=None) -> dict:
    """The cluster ``TF_CONFIG`` describes; without it, one worker, its own chief."""
    text = (os.environ if environ is None else environ).get("TF_CONFIG", "")
    if not text.strip():
        return {"workers": 1, "task_type": "worker", "task_index": 0, "chief": True}
    try:
        config = json.loads(text)
        members = config.get("cluster", {})
        task_type, task_index = str(config["task"]["type"]), int(config["task"].get("index", 0))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ReproduceError(f"TF_CONFIG is not a cluster description: {exc}") from None
    first = task_type == "worker" and task_index == 0 and not members.get("chief")
    workers = len(members.get("worker", [])) + len(members.get("chief", []))
    chief = task_type == "chief" or first
    return {"workers": workers, "task_type": task_type, "task_index": task_index, "chief": chief}


def describe(name: str | None) -> dict | None:
    """``metrics.json["distribute"]``: strategy, replicas, this process's devices (and workers)."""
    if (chosen := strategy(name)) is None:
        return None
    devices = [str(d) for d in chosen.extended.worker_devices]
    described = {"strategy": name, "replicas": int(chosen.num_replicas_in_sync), "devices": devices}
    if name == "multiworker":
        c = cluster()
        described.update(workers=c["workers"], task=f"{c['task_type']}:{c['task_index']}")
    return described


def worker_dir(run_dir: Path, name: str | None) -> Path:
    """``run_dir`` on the chief; on another multiworker worker a temporary copy of it."""
    if name != "multiworker" or cluster()["chief"]:
        return run_dir
    scratch = Path(tempfile.mkdtemp(prefix=f"worker-{cluster()['task_index']}-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    if run_dir.is_dir():
        with contextlib.suppress(shutil.Error):  # a file the chief replaced meanwhile
            shutil.copytree(run_dir, scratch / run_dir.name)
    return scratch / run_dir.name


def adapt(model):
    """Let Keras 3's ``fit`` run under MultiWorkerMirroredStrategy (keras-team/keras#20585):
    the symbolic build reads the local replica's batch, the steps return logs of shape [1]."""
    import tensorflow as tf

    chosen = getattr(model, "distribute_strategy", None)
    multiworker = isinstance(chosen, tf.distribute.MultiWorkerMirroredStrategy)
    if not multiworker or cluster()["workers"] < 2 or getattr(model, "_multiworker_adapted", False):
        return model
    if not hasattr(model, "_symbolic_build"):
        raise ReproduceError("--distribute multiworker: this Keras lacks Model._symbolic_build, "
                             "which the workaround for keras-team/keras#20585 relies on")  # fmt: skip

    def maybe_symbolic_build(iterator=None, data_batch=None):
        if iterator is not None:  # the first batch of this replica
            _, _, batches = next(iter(iterator))
            local = chosen.experimental_local_results
            data_batch = tf.nest.map_structure(lambda v: local(v)[0], next(batches))
        with chosen.scope():
            model._symbolic_build(data_batch=data_batch)

    def with_axis(step):
        return lambda data: tf.nest.map_structure(
            lambda v: tf.reshape(v, [1]) if v.shape.rank == 0 else v, step(data)
        )

    model._maybe_symbolic_build = maybe_symbolic_build
    model.train_step, model.test_step = with_axis(model.train_step), with_axis(model.test_step)
    model._multiworker_adapted = True
    return model
