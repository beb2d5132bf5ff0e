"""``LastValue``: a metric that reports the latest value, not a running mean."""

from __future__ import annotations

import keras

REPLICA_REDUCTIONS = ("max", "same")


class LastValue(keras.metrics.Metric):
    """Holds the value of its latest ``update_state`` call as a scalar.

    ``ODEBlock`` owns one (named ``"nfe"``, int32) and updates it with the
    number of function evaluations of each forward solve, and one (``"t1"``,
    float32) with its end time when it learns it. Keras adds the metrics of a
    model's layers to ``Model.metrics``, so the value appears in the progress
    bar and in ``History`` of ``fit``/``evaluate`` like a compiled metric; at
    the end of an epoch it is the value of the epoch's last batch.

    Under a ``tf.distribute`` strategy each replica solves its own part of the
    batch. ``replicas="max"`` reports the largest value over the replicas
    (for the NFE: what the step costs, since the replicas wait for the
    slowest); ``"same"`` is for values every replica shares (a learned
    ``t1``), read from the first replica.
    """

    def __init__(self, name="nfe", dtype="int32", replicas="max", **kwargs):
        if replicas not in REPLICA_REDUCTIONS:
            raise ValueError(f"replicas must be one of {REPLICA_REDUCTIONS}, got {replicas!r}.")
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.replicas = replicas
        # Every replica holds the same value once update_state has reduced it,
        # so reading the first replica's copy is exact (summing would count
        # it once per replica, Keras' default for metric variables).
        self.value = self.add_variable(
            shape=(),
            initializer="zeros",
            dtype=dtype,
            aggregation="only_first_replica",
            name="value",
        )

    def update_state(self, value):
        """Replace the held value with ``value`` (a scalar)."""
        value = keras.ops.cast(value, self.dtype)
        if self.replicas == "max":
            value = _max_over_replicas(value)
        self.value.assign(value)

    def result(self):
        return keras.ops.convert_to_tensor(self.value)

    def reset_state(self):
        self.value.assign(keras.ops.zeros((), self.dtype))

    def get_config(self):
        return {**super().get_config(), "replicas": self.replicas}


def _max_over_replicas(value):
    """The maximum of ``value`` over the replicas in sync (``value`` itself with one)."""
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    # float32 holds counts up to 2**24 exactly and every device gathers it.
    gathered = context.all_gather(tf.reshape(tf.cast(value, tf.float32), [1]), axis=0)
    return tf.cast(tf.reduce_max(gathered), value.dtype)
