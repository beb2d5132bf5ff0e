"""A tiny training run through reproduce.engine, shared by the tests.

Imported by the tests (for the model, the data and the options) and run as a
script by the resumption tests, which need a real process to signal::

    python tests/_tiny_run.py RUN_DIR [--epochs N] [--signal INT|TERM --at-epoch E --at-batch B [--twice]]

With ``--signal`` the run sends that signal to its own process at the end of
batch B (0-based) of epoch E (0-based), like a user pressing Ctrl-C at that
moment; ``--twice`` sends it a second time right after the first.
Exits 0 when finished and 130 when interrupted, like ``python -m reproduce``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

EPOCHS = 6
BATCH_SIZE = 16
SEED = 7
DATA = {"kind": "stand-in", "path": None, "sha256": "0" * 64, "n_records": 80}


def tiny_data():
    """64 training and 16 test samples of a linearly separable problem (fixed)."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 8)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("float32")
    return x[:64], y[:64], x[64:], y[64:]


def build_tiny(learning_rate: float = 0.01):
    """Dense network with dropout (so the dropout RNG must resume too) and Adam (moments)."""
    import keras

    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


def config(run_dir, **overrides):
    """The tiny run's :class:`reproduce.engine.RunConfig` (deterministic, silent)."""
    from reproduce.engine import RunConfig

    options = dict(
        model="dense",
        preprocessing="corrected",
        quick=True,
        epochs=EPOCHS,
        batch_size=BATCH_SIZE,
        seed=SEED,
        deterministic=True,
        verbose=0,
        out=str(Path(run_dir).parent),
        run_name=Path(run_dir).name,
    )
    options.update(overrides)
    return RunConfig(**options)


def open_run(run_dir, callbacks=None, data=DATA, **overrides):
    """An :class:`reproduce.engine.Run` of the tiny configuration into ``run_dir``."""
    from reproduce.engine import Run

    return Run(config(run_dir, **overrides), data, run_dir=run_dir, callbacks=callbacks or ())


def run(run_dir, callbacks=None, build_model=None, arrays=None, data=DATA, **overrides):
    """Train the tiny model into ``run_dir``; return its metrics."""
    from reproduce import engine
    from reproduce.engine.run import check_arrays

    x_train, y_train, x_test, y_test = arrays or tiny_data()
    check_arrays(x_train, y_train, x_test, y_test)  # before the folder is touched
    with open_run(run_dir, callbacks, data, **overrides) as run:
        engine.seed_everything(run.config.train_seed)
        model = (build_model or build_tiny)()
        run.fit(model, x_train, y_train, test_data=(x_test, y_test))
        run.evaluate(model, x_test, y_test)
    return run.metrics


def signal_callback(signum: int, epoch: int, batch: int, twice: bool):
    """A Keras callback that signals its own process at (epoch, batch)."""
    import keras

    class SendSignal(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epoch = -1

        def on_epoch_begin(self, current, logs=None):
            self.epoch = current

        def on_train_batch_end(self, current, logs=None):
            if (self.epoch, current) == (epoch, batch):
                os.kill(os.getpid(), signum)
                if twice:
                    time.sleep(0.05)  # let Python run the handler of the first one
                    os.kill(os.getpid(), signum)

    return SendSignal()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("--signal", choices=["INT", "TERM"])
    parser.add_argument("--at-epoch", type=int, default=2)
    parser.add_argument("--at-batch", type=int, default=1)
    parser.add_argument("--twice", action="store_true")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    args = parser.parse_args()
    callbacks = None
    if args.signal:
        signum = getattr(signal, "SIG" + args.signal)
        callbacks = [signal_callback(signum, args.at_epoch, args.at_batch, args.twice)]
    try:
        run(args.run_dir, callbacks=callbacks, epochs=args.epochs)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
