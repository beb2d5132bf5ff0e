"""Learn the dynamics of a spiral from its trajectory (torchdiffeq's ode_demo.py, in Keras).

Shows `odelayers.odeint` as a differentiable solver: a small MLP `f` is fitted so that the
solution of dy/dt = f(y) matches short windows of a true trajectory, gradients by the adjoint.

    PYTHONPATH=. python examples/spiral.py                 # a few minutes on 2 CPU cores
    PYTHONPATH=. python examples/spiral.py --tiny --out /tmp/spiral

Ends with spiral.png (true vs learned trajectory), spiral_results.json and a loss table."""

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads: quiet start-up

import keras
import matplotlib
import numpy as np
import tensorflow as tf

import odelayers

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--iterations", type=int, default=2000)
parser.add_argument("--out", type=Path, default=Path("runs/examples"))
parser.add_argument("--tiny", action="store_true", help="a few seconds: for the tests")
args = parser.parse_args()
iterations, data_size, log_every = (100, 200, 25) if args.tiny else (args.iterations, 1000, 100)
batch_time, batch_size = 10, 20  # as ode_demo: 20 windows of 10 consecutive points
keras.utils.set_random_seed(0)

# Data
# The true system: a cubic spiral dy/dt = y**3 @ A, solved tightly so that the
# only error left to learn away is the model's.
A, true_y0 = tf.constant([[-0.1, 2.0], [-2.0, -0.1]]), tf.constant([[2.0, 0.0]])
t = tf.constant(np.linspace(0.0, 25.0, data_size), tf.float32)
true_y = odelayers.odeint(lambda t, y: y**3 @ A, true_y0, t, rtol=1e-7, atol=1e-9)  # [T, 1, 2]


def get_batch():
    # Windows start anywhere; the system is autonomous, so each runs over t[:batch_time].
    start = np.random.choice(data_size - batch_time, batch_size, replace=False)
    windows = np.stack([true_y[s : s + batch_time] for s in start], axis=1)  # [T, B, 1, 2]
    return tf.constant(windows[0]), tf.constant(windows)


# Model
class ODEFunc(keras.layers.Layer):
    """dy/dt = MLP(y**3): the cube gives the network the true system's features."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        init = keras.initializers.RandomNormal(stddev=0.1)  # ode_demo's small start
        self.hidden = keras.layers.Dense(50, activation="tanh", kernel_initializer=init)
        self.out = keras.layers.Dense(2, kernel_initializer=init)

    def call(self, y):
        return self.out(self.hidden(y**3))


func = ODEFunc()
func(true_y0)  # build, so that the weights exist before the first gradient
dynamics = lambda t, y: func(y)  # noqa: E731  odeint calls func(t, y)
# Decaying steps: the loss over the whole trajectory is sensitive, so the fit settles at the end.
optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(5e-3, iterations))


def solve(y0, times):
    return odelayers.odeint(dynamics, y0, times, method="dopri5", gradient="adjoint")


# Training
@tf.function  # one graph per step: far faster than eager solves
def train_step(batch_y0, batch_y):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.abs(solve(batch_y0, t[:batch_time]) - batch_y))
    grads = tape.gradient(loss, func.trainable_variables)
    optimizer.apply_gradients(zip(grads, func.trainable_variables))
    return loss


@tf.function
def full_loss():
    return tf.reduce_mean(tf.abs(solve(true_y0, t) - true_y))


start_time, table = time.perf_counter(), [(0, float(full_loss()))]
for it in range(1, iterations + 1):
    train_step(*get_batch())
    if it % log_every == 0 or it == iterations:
        table.append((it, float(full_loss())))  # loss over the whole trajectory
seconds = time.perf_counter() - start_time

# Results
pred_y, true = solve(true_y0, t).numpy()[:, 0], true_y.numpy()[:, 0]
fig, (ax_t, ax_p) = plt.subplots(1, 2, figsize=(11, 4))
for k, name in enumerate("xy"):
    ax_t.plot(t, true[:, k], "g-" if k == 0 else "b-", label=f"true {name}")
    ax_t.plot(t, pred_y[:, k], "g--" if k == 0 else "b--", label=f"learned {name}")
ax_t.set(title="Trajectories", xlabel="t", ylabel="x, y")
ax_t.legend(fontsize=8)
ax_p.plot(true[:, 0], true[:, 1], "g-", label="true")
ax_p.plot(pred_y[:, 0], pred_y[:, 1], "b--", label="learned")
ax_p.set(title="Phase portrait", xlabel="x", ylabel="y", xlim=(-2.2, 2.2), ylim=(-2.2, 2.2))
ax_p.legend(fontsize=8)
fig.tight_layout()
args.out.mkdir(parents=True, exist_ok=True)
fig.savefig(args.out / "spiral.png", dpi=100)

losses = {"iterations": [i for i, _ in table], "loss": [v for _, v in table]}
results = {**losses, "initial_loss": table[0][1], "final_loss": table[-1][1], "seconds": seconds}
(args.out / "spiral_results.json").write_text(json.dumps(results, indent=1))
print(f"{'iteration':>9}  {'loss':>8}")
for it, loss in table:
    print(f"{it:>9}  {loss:8.4f}")
print(f"{iterations} iterations in {seconds:.0f} s; figure: {args.out / 'spiral.png'}")
