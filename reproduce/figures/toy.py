"""Figure 8: a weight-tied residual network and a Neural ODE with the same dynamics,
trained here in seconds on a 1-D toy regression, and their hidden-state trajectories."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reproduce.figures.canvas import pyplot, save_figure


@dataclass
class ToyResult:
    """What :func:`train_toy_models` trained and measured.

    Attributes:
        depth: number of residual blocks = the ODE's integration time.
        inputs: the inputs whose trajectories are drawn, shape [k].
        resnet_depths: 0..depth; ``resnet_states`` [depth + 1, k] the residual
            network's hidden states there.
        ode_times: dense times in [0, depth]; ``ode_states`` [len, k] the Neural
            ODE's hidden state along them; ``ode_outputs`` [k] the trained
            ``ODEBlock``'s own outputs for the inputs (the trajectory's end).
        resnet_loss, ode_loss: training loss before and after training.
        target: the function learned, as text.
    """

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


TOY_TARGET = "y = 2 tanh(2x)"
#: Solver tolerances of the toy Neural ODE, in training and for the drawn trajectory alike.
TOY_RTOL, TOY_ATOL = 1e-3, 1e-4


def _toy_target(x):
    return 2.0 * np.tanh(2.0 * x)


def train_toy_models(
    depth: int = 4, steps: int = 80, seed: int = 0, n_points: int = 9
) -> ToyResult:
    """Train a weight-tied residual network and a Neural ODE on a 1-D toy regression.

    Task: map x in [-1, 1] to ``2 tanh(2x)`` (points near 0 must be pushed apart,
    the others pulled together; monotone, so a 1-D ODE flow can do it). Both
    models share one architecture of dynamics ``f(h, t)`` (``ConcatDense`` 1 -> 16
    tanh -> 1, with t as an extra input):

    * the residual network applies ``h <- h + f(h, k)`` for k = 0..depth-1 (Euler
      with step 1: values exist only at integer depths);
    * the Neural ODE integrates ``dh/dt = f(h, t)`` from 0 to ``depth`` with dopri5.

    Each is trained separately (Adam, full batch of 64 points) for ``steps``
    steps. The trajectories of ``n_points`` inputs are then read off: the
    residual network's at its integer depths, the ODE's densely with
    :func:`odelayers.odeint` on 81 times.
    """
    from reproduce._quiet import quiet_tensorflow

    quiet_tensorflow()
    import keras
    import tensorflow as tf

    from odelayers import ODEBlock, odeint

    keras.utils.set_random_seed(seed)
    x = np.linspace(-1.0, 1.0, 64, dtype=np.float32)[:, None]
    y = _toy_target(x).astype(np.float32)

    make_dynamics = _toy_dynamics_class()
    resnet_dyn = make_dynamics()
    ode_dyn = make_dynamics()
    ode_block = ODEBlock(
        ode_dyn,
        t0=0.0,
        t1=float(depth),
        method="dopri5",
        rtol=TOY_RTOL,
        atol=TOY_ATOL,
        gradient="adjoint",
    )

    def resnet_forward(h):
        for k in range(depth):
            h = h + resnet_dyn(h, tf.constant(float(k)))
        return h

    resnet_loss = _fit_full_batch(
        resnet_forward, lambda: resnet_dyn.trainable_variables, x, y, steps, tf, keras
    )
    ode_loss = _fit_full_batch(
        ode_block, lambda: ode_block.trainable_variables, x, y, steps, tf, keras
    )

    inputs = np.linspace(-1.0, 1.0, n_points, dtype=np.float32)[:, None]
    states = [inputs]
    h = tf.constant(inputs)
    for k in range(depth):
        h = h + resnet_dyn(h, tf.constant(float(k)))
        states.append(h.numpy())
    resnet_states = np.concatenate(states, axis=1).T  # [depth + 1, k]

    times = np.linspace(0.0, float(depth), 81)
    trajectory = odeint(
        lambda t, h: ode_dyn(h, t),
        tf.constant(inputs),
        tf.constant(times, dtype=tf.float32),
        method="dopri5",
        rtol=TOY_RTOL,
        atol=TOY_ATOL,
    )
    ode_states = np.asarray(trajectory)[:, :, 0]
    ode_outputs = np.asarray(ode_block(tf.constant(inputs)))[:, 0]
    return ToyResult(
        depth=depth,
        inputs=inputs[:, 0],
        resnet_depths=np.arange(depth + 1),
        resnet_states=resnet_states,
        ode_times=times,
        ode_states=ode_states,
        ode_outputs=ode_outputs,
        resnet_loss=resnet_loss,
        ode_loss=ode_loss,
        target=TOY_TARGET,
    )


def _toy_dynamics_class():
    import keras

    from odelayers import ConcatDense

    class ToyDynamics(keras.layers.Layer):
        """f(h, t): ConcatDense(16, tanh) then ConcatDense(1); t enters both layers.

        The output layer starts at zero, so both models start as the identity
        (the usual initialisation of residual branches) and train smoothly.
        """

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = ConcatDense(16, activation="tanh")
            self.out = ConcatDense(1, kernel_initializer="zeros")

        def call(self, h, t):
            return self.out(self.hidden(h, t), t)

    return ToyDynamics


def _fit_full_batch(forward, variables, x, y, steps, tf, keras) -> tuple[float, float]:
    """Adam on the mean squared error, full batch, in a compiled step.

    Returns the loss of the first and of the last step (each measured before
    that step's update): computing them eagerly instead would cost an eager
    adaptive solve, much slower than the compiled one.
    """
    optimizer = keras.optimizers.Adam(learning_rate=0.05)
    xt, yt = tf.constant(x), tf.constant(y)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(forward(xt) - yt))
        grads = tape.gradient(loss, variables())
        optimizer.apply_gradients(zip(grads, variables()))
        return loss

    losses = [float(step()) for _ in range(steps)]
    return losses[0], losses[-1]


def plot_trajectories(result: ToyResult, out_png) -> Path:
    """Figure 8: residual network states at integer depths (points) beside the Neural
    ODE's continuous trajectories."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    colors = plt.cm.viridis(np.linspace(0, 1, len(result.inputs)))
    for k, color in enumerate(colors):
        left.plot(result.resnet_depths, result.resnet_states[:, k], color=color, lw=0.6, alpha=0.35)
        left.plot(result.resnet_depths, result.resnet_states[:, k], "o", color="red", ms=5)
        right.plot(result.ode_times, result.ode_states[:, k], color=color, lw=1.8)
    left.set_title(
        f"Residual network, {result.depth} weight-tied blocks h <- h + f(h, k)\n"
        f"states exist only at integer depths (red); MSE {result.resnet_loss[0]:.3f} -> {result.resnet_loss[1]:.4f}",
        fontsize=10,
    )
    right.set_title(
        f"Neural ODE dh/dt = f(h, t), t in [0, {result.depth}] (dopri5)\n"
        f"state defined at every depth; MSE {result.ode_loss[0]:.3f} -> {result.ode_loss[1]:.4f}",
        fontsize=10,
    )
    for ax in (left, right):
        ax.set_xlabel("depth / time t")
        ax.grid(alpha=0.3)
    left.set_ylabel("hidden state h")
    left.set_xticks(result.resnet_depths)
    fig.suptitle(
        f"Figure 8 (report 4.1.1): hidden-state trajectories of {len(result.inputs)} inputs in [-1, 1], "
        f"both models trained on {result.target}",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return save_figure(fig, out_png)
