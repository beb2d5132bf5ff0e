"""``LastValue``: a metric reporting the latest value, not a running mean."""

import keras
import tensorflow as tf


class LastValue(keras.metrics.Metric):
    """The value of the latest ``update_state``, e.g. an ``ODEBlock``'s NFE.

    Args:
        replicas: under ``tf.distribute``, ``"max"``: the largest over the replicas (the
            NFE: they wait for the slowest); ``"same"``: one all share (a learned ``t1``).
    """

    def __init__(self, name="nfe", dtype="int32", replicas="max", **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.replicas = replicas
        # Every replica holds the same value after update_state, so the first
        # replica's copy is exact (Keras' default would sum the replicas).
        self.value = self.add_variable((), "zeros", dtype, "only_first_replica", name="value")

    def update_state(self, value):
        value, context = keras.ops.cast(value, self.dtype), tf.distribute.get_replica_context()
        if self.replicas == "max" and context is not None and context.num_replicas_in_sync > 1:
            # float32 holds counts up to 2**24 exactly and every device gathers it.
            gathered = context.all_gather(tf.reshape(tf.cast(value, tf.float32), [1]), axis=0)
            value = tf.cast(tf.reduce_max(gathered), value.dtype)
        self.value.assign(value)

    def result(self):
        return keras.ops.convert_to_tensor(self.value)

    def reset_state(self):
        self.value.assign(keras.ops.zeros((), self.dtype))

    def get_config(self):
        return {**super().get_config(), "replicas": self.replicas}
