"""``LastValue``: a metric that reports the latest value, not a running mean."""

from __future__ import annotations

import keras


class LastValue(keras.metrics.Metric):
    """Holds the value of its latest ``update_state`` call as an int32 scalar.

    ``ODEBlock`` owns one (named ``"nfe"``) and updates it with the number of
    function evaluations of each forward solve. Keras adds the metrics of a
    model's layers to ``Model.metrics``, so the value appears in the progress
    bar and in ``History`` of ``fit``/``evaluate`` like a compiled metric; at
    the end of an epoch it is the NFE of the epoch's last batch.
    """

    def __init__(self, name="nfe", **kwargs):
        kwargs.setdefault("dtype", "int32")
        super().__init__(name=name, **kwargs)
        self.value = self.add_variable(shape=(), initializer="zeros", dtype="int32", name="value")

    def update_state(self, value):
        """Replace the held value with ``value`` (a scalar)."""
        self.value.assign(keras.ops.cast(value, "int32"))

    def result(self):
        return keras.ops.convert_to_tensor(self.value)

    def reset_state(self):
        self.value.assign(0)
