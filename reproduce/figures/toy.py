"""Figure 8: a weight-tied residual network and a Neural ODE with the same dynamics, trained
here in seconds on a 1-D toy regression, and their hidden-state trajectories."""

from pathlib import Path
from typing import NamedTuple

import numpy as np

from reproduce.figures.canvas import pyplot, save_figure

TOY_TARGET = "y = 2 tanh(2x)"
TOY_RTOL, TOY_ATOL = 1e-3, 1e-4  # the toy Neural ODE's, in training and drawing alike


class ToyResult(NamedTuple):
    """Trajectories of ``inputs`` [k]: residual states [depth + 1, k] at ``resnet_depths``, ODE
    states [len, k] at ``ode_times``, the ``ODEBlock``'s outputs [k]; first and last losses."""

    depth: int
    inputs: np.ndarray
    resnet_depths: np.ndarray
    resnet_states: np.ndarray
    ode_times: np.ndarray
    ode_states: np.ndarray
    ode_outputs: np.ndarray
    resnet_loss: tuple[float, float]
    ode_loss: tuple[float, float]
    target: str


def train_toy_models(depth: int = 4, steps: int = 80, seed: int = 0, n_points: int = 9):
    """Train both models (Adam, full batch) to map x in [-1, 1] to 2 tanh(2x), monotone so that a
    1-D flow can: h <- h + f(h, k) for k < depth (Euler, step 1) against dh/dt = f(h, t) from 0
    to depth (dopri5), f: ``ConcatDense`` 1 -> 16 tanh -> 1 in both."""
    from reproduce._quiet import quiet_tensorflow

    quiet_tensorflow()
    import keras
    import tensorflow as tf

    from odelayers import ConcatDense, ODEBlock, odeint

    class Dynamics(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.hidden = ConcatDense(16, activation="tanh")
            # A zero output layer starts both models at the identity, as residual branches are.
            self.out = ConcatDense(1, kernel_initializer="zeros")

        def call(self, h, t):
            return self.out(self.hidden(h, t), t)

    keras.utils.set_random_seed(seed)
    x = np.linspace(-1.0, 1.0, 64, dtype=np.float32)[:, None]
    y = (2.0 * np.tanh(2.0 * x)).astype(np.float32)
    resnet_dyn, ode_dyn = Dynamics(), Dynamics()
    block = ODEBlock(ode_dyn, t0=0.0, t1=float(depth), method="dopri5", rtol=TOY_RTOL,
                     atol=TOY_ATOL, gradient="adjoint")  # fmt: skip

    def resnet(h, states=None):
        for k in range(depth):
            h = h + resnet_dyn(h, tf.constant(float(k)))
            if states is not None:
                states.append(h.numpy())
        return h

    resnet_loss = _fit(resnet, lambda: resnet_dyn.trainable_variables, x, y, steps)
    ode_loss = _fit(block, lambda: block.trainable_variables, x, y, steps)
    inputs = np.linspace(-1.0, 1.0, n_points, dtype=np.float32)[:, None]
    states = [inputs]
    resnet(tf.constant(inputs), states)
    times = np.linspace(0.0, float(depth), 81)
    trajectory = odeint(lambda t, h: ode_dyn(h, t), tf.constant(inputs), tf.constant(times, "float32"),
                        method="dopri5", rtol=TOY_RTOL, atol=TOY_ATOL)  # fmt: skip
    outputs = np.asarray(block(tf.constant(inputs)))[:, 0]
    return ToyResult(depth, inputs[:, 0], np.arange(depth + 1), np.concatenate(states, axis=1).T,
                     times, np.asarray(trajectory)[:, :, 0], outputs, resnet_loss, ode_loss,
                     TOY_TARGET)  # fmt: skip


def _fit(forward, variables, x, y, steps) -> tuple[float, float]:
    """Adam on the MSE, compiled (an eager adaptive solve is slow); the first and the last loss."""
    import keras
    import tensorflow as tf

    optimizer = keras.optimizers.Adam(learning_rate=0.05)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(forward(tf.constant(x)) - y))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables()), variables()))
        return loss

    losses = [float(step()) for _ in range(steps)]
    return losses[0], losses[-1]


def plot_trajectories(result: ToyResult, out_png) -> Path:
    """Figure 8: residual states at integer depths (points) beside the ODE's continuous ones."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    for k, color in enumerate(plt.cm.viridis(np.linspace(0, 1, len(result.inputs)))):
        left.plot(result.resnet_depths, result.resnet_states[:, k], color=color, lw=0.6, alpha=0.35)
        left.plot(result.resnet_depths, result.resnet_states[:, k], "o", color="red", ms=5)
        right.plot(result.ode_times, result.ode_states[:, k], color=color, lw=1.8)
    (r0, r1), (o0, o1) = result.resnet_loss, result.ode_loss
    left.set_title(f"Residual network, {result.depth} weight-tied blocks h <- h + f(h, k)\n"
                   f"states exist only at integer depths (red); MSE {r0:.3f} -> {r1:.4f}", fontsize=10)  # fmt: skip
    right.set_title(f"Neural ODE dh/dt = f(h, t), t in [0, {result.depth}] (dopri5)\n"
                    f"state defined at every depth; MSE {o0:.3f} -> {o1:.4f}", fontsize=10)  # fmt: skip
    for ax in (left, right):
        ax.set_xlabel("depth / time t")
        ax.grid(alpha=0.3)
    left.set(ylabel="hidden state h", xticks=result.resnet_depths)
    title = (f"Figure 8 (report 4.1.1): hidden-state trajectories of {len(result.inputs)} inputs "
             f"in [-1, 1], both models trained on {result.target}")  # fmt: skip
    return save_figure(fig, out_png, title, fontsize=11, top=0.94)
