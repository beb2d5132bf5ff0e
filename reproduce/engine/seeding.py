"""Every epoch's randomness as a function of (training seed, epoch), so a resumed run replays it.

Epoch ``e`` visits the samples in an order drawn from ``(seed, e)``, reseeds
Python and NumPy, and resets every Keras ``SeedGenerator`` (dropout masks)
from ``(seed, e)``. TensorFlow's global seed is not reset: that retraces the
training step; stateful ``tf.random`` ops in custom code are thus not replayed.
"""

from __future__ import annotations


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and Keras; call it right before building the model."""
    import keras

    keras.utils.set_random_seed(int(seed))


def _derived(seed: int, epoch: int, stream: int) -> int:
    import numpy as np

    value = np.random.SeedSequence([int(seed), int(epoch), int(stream)]).generate_state(1)[0]
    return int(value) % (2**31 - 2) + 1


def seed_epoch(model, seed: int, epoch: int) -> None:
    """Reseed Python, NumPy, the model's seed generators and Keras' global one for ``epoch``."""
    import random

    import numpy as np

    value = _derived(seed, epoch, 0)
    random.seed(value)
    np.random.seed(value)
    states = [v for v in model.variables if v.path.endswith("seed_generator_state")]
    try:
        from keras.src.backend.common import global_state

        generator = global_state.get_global_attribute("global_seed_generator")
        if generator is not None:
            states.append(generator.state)
    except (ImportError, AttributeError):  # private API: best effort
        pass
    for index, variable in enumerate(states):
        variable.assign(np.array([_derived(seed, epoch, 1000 + index), 0], dtype=variable.dtype))


def epochs_dataset(x, y, config, start: int):
    """Epochs ``start``.. of ``config`` as one ``tf.data`` pipeline, each in its seeded order.

    One ``fit`` reads it all (a ``fit`` per epoch would rebuild Keras' training
    state); each epoch is batched on its own, so epochs never share a batch.
    """
    import numpy as np
    import tensorflow as tf

    n, seed = len(x), config.train_seed
    orders = np.stack(
        [
            np.random.default_rng(_derived(seed, e, 1)).permutation(n)
            if config.shuffle
            else np.arange(n)
            for e in range(start, config.epochs)
        ]
    ).astype(np.int32)
    with tf.device("/CPU:0"):  # tf.data runs on the CPU: keep the arrays there
        x_all, y_all = tf.convert_to_tensor(x), tf.convert_to_tensor(y)
    batches = tf.data.Dataset.from_tensor_slices(orders).flat_map(
        lambda order: tf.data.Dataset.from_tensor_slices(order).batch(config.batch_size)
    )
    return batches.map(lambda i: (tf.gather(x_all, i), tf.gather(y_all, i))).prefetch(2)
