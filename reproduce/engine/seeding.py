"""Seeds: the initial weights and every epoch's randomness as functions of the run's seed.

Instead of Keras' own shuffling (seeded once per ``fit``), each epoch ``e``
(0-based) visits the samples in an order drawn from a NumPy generator seeded
by ``(seed, e)``, reseeds Python and NumPy from ``(seed, e)``, and resets the
state of every Keras ``SeedGenerator`` in the model (dropout masks) from
``(seed, e)``. What epoch ``e`` does therefore depends only on the seed, the
epoch number and the weights and optimizer state at its start, which the
checkpoint restores: a resumed run replays the epochs it has not done yet.
"""

from __future__ import annotations

__all__ = ["epoch_orders", "epoch_seed", "seed_epoch", "seed_everything"]


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and TensorFlow/Keras' global generators.

    Call it right before building the model, so that the initial weights
    depend on ``seed`` only.
    """
    import keras

    keras.utils.set_random_seed(int(seed))


def epoch_seed(seed: int, epoch: int, stream: int) -> int:
    """A seed in [1, 2**31 - 1) that depends only on (seed, epoch, stream)."""
    import numpy as np

    value = np.random.SeedSequence([int(seed), int(epoch), int(stream)]).generate_state(1)[0]
    return int(value) % (2**31 - 2) + 1


def seed_epoch(model, seed: int, epoch: int) -> None:
    """Make everything random in epoch ``epoch`` a function of (seed, epoch).

    Python's and NumPy's global generators are reseeded, and the state of
    every Keras ``SeedGenerator`` in the model (dropout and noise layers; not
    part of saved weights) and of Keras' global one (``keras.random`` calls
    without a seed) is reset. TensorFlow's global seed is *not* reset per
    epoch: changing it makes ``tf.function`` retrace the training step (a
    fraction of a second per epoch), and Keras' random layers do not use it.
    Stateful ``tf.random`` ops in custom code are therefore the one source of
    randomness that a resumed run does not replay.
    """
    import random

    import numpy as np

    value = epoch_seed(seed, epoch, 0)
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
        start = epoch_seed(seed, epoch, 1000 + index)
        variable.assign(np.array([start, 0], dtype=variable.dtype))


def _epoch_order(seed: int, epoch: int, n: int):
    """The order in which epoch ``epoch`` visits the ``n`` training samples."""
    import numpy as np

    return np.random.default_rng(epoch_seed(seed, epoch, 1)).permutation(n)


def epoch_orders(seed: int, start: int, epochs: int, n: int, shuffle: bool):
    """The sample orders of epochs ``start``..``epochs - 1``, one int32 row each.

    Without ``shuffle`` every epoch visits the samples in their given order.
    """
    import numpy as np

    if shuffle:
        orders = np.stack([_epoch_order(int(seed), e, n) for e in range(start, int(epochs))])
    else:
        orders = np.tile(np.arange(n), (int(epochs) - start, 1))
    return orders.astype(np.int32)
