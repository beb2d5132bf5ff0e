"""The training input: all remaining epochs as one ``tf.data`` pipeline, in seeded orders."""

from __future__ import annotations

__all__ = ["epochs_dataset"]


def epochs_dataset(x, y, orders, batch_size: int):
    """A ``tf.data`` pipeline yielding the batches of several epochs back to back.

    ``orders[i]`` is the sample order of the i-th epoch; each epoch is batched
    on its own (its last batch may be smaller), so epochs never share a batch.
    One ``fit`` call reads it all: a ``fit`` per epoch would rebuild Keras'
    training function state every time.
    """
    import tensorflow as tf

    # tf.data runs on the CPU: keep the arrays there (eagerly created tensors
    # would otherwise go to the GPU, and every batch would cross twice).
    with tf.device("/CPU:0"):
        x_all = tf.convert_to_tensor(x)
        y_all = tf.convert_to_tensor(y)
    epochs = tf.data.Dataset.from_tensor_slices(orders)
    batches = epochs.flat_map(
        lambda order: tf.data.Dataset.from_tensor_slices(order).batch(batch_size)
    )
    pairs = batches.map(lambda index: (tf.gather(x_all, index), tf.gather(y_all, index)))
    return pairs.prefetch(2)
