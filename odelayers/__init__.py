"""odelayers: Neural ODE layers for Keras 3, on TensorFlow Probability's ODE solvers.

A Neural ODE (Chen et al., 2018) replaces a stack of residual blocks
``h <- h + f(h)`` by the solution of ``dh/dt = f(h, t)``: the ResNet update
is one Euler step of that ODE, and any ODE solver can take its place.

Public API
----------
``odeint(func, y0, t, method="dopri5", rtol=1e-3, atol=1e-6, step_size=None,
num_steps=None, max_num_steps=4096, first_step=None, gradient="adjoint",
adjoint_norm="seminorm", full_output=False)``
    Solve ``dy/dt = func(t, y)``, ``y(t[0]) = y0``; returns the states at
    every time of ``t`` stacked on the first axis (``[len(t), *y0.shape]``),
    like ``torchdiffeq.odeint``.

``ODEBlock(dynamics, t0=0.0, t1=1.0, method="dopri5", rtol=1e-3, atol=1e-6,
step_size=None, num_steps=None, gradient="adjoint", augment=0, t_eval=None,
max_num_steps=4096, first_step=None, nfe_metric_name="nfe",
adjoint_norm="seminorm")``
    A Keras layer mapping ``h(t0) = inputs`` to ``h(t1)``, where ``dynamics``
    is any Keras layer with ``call(self, h, t)``. States ``[B, D]`` or
    ``[B, H, W, C]``. ``augment=k`` integrates with ``k`` extra zero channels
    (augmented Neural ODEs) and keeps them in the output. It reports the
    number of function evaluations (NFE) of its last forward solve as a
    metric ``"nfe"`` in ``model.fit`` logs and ``History``, and as
    ``block.nfe``.

``ConcatConv2D(filters, kernel_size, ...)``, ``ConcatDense(units, ...)``
    ``Conv2D`` / ``Dense`` that see the time ``t`` as an extra input channel /
    feature (Chen et al.'s ``ConcatConv2d``); ``call(h, t)``.

``available_methods()``
    Names and one-line descriptions of the solvers.

``errors.ODESolverError``, ``errors.UnsupportedBackendError``
    Raised when an adaptive solver gives up, and when Keras does not run on
    TensorFlow.

Solvers (``method``)
--------------------
* ``"dopri5"`` (default): Dormand-Prince 5(4), adaptive step (TFP), with an
  automatic first step.
* ``"bdf"``: backward differentiation formulas (TFP), for stiff problems with
  small states (it forms the dense Jacobian of the whole state).
* ``"euler"``, ``"midpoint"``, ``"rk4"``: fixed step, orders 1, 2 and 4; give
  ``step_size`` or ``num_steps``. ``ODEBlock(f, t0=0, t1=N, method="euler",
  step_size=1.0)`` computes exactly the weight-tied residual network
  ``h <- h + f(h, t)`` applied N times.

Gradients (``gradient``)
------------------------
* ``"adjoint"`` (default): TFP's adjoint sensitivity method, which solves an
  augmented ODE backwards in time; memory does not grow with the number of
  steps. Gradients reach the dynamics' weights (variables read inside
  ``func``). Available for every method. With "dopri5" the backward solve
  controls the error of the state and its adjoint only (``adjoint_norm=
  "seminorm"``, Kidger, Chen & Lyons 2021): the parameter-gradient integrals
  feed nothing back, and bounding their error too (``adjoint_norm="full"``,
  TFP's own adjoint and torchdiffeq's default) only multiplies the backward
  steps, by 1.6-3.7 on an ODE-Net block at rtol = atol from 1e-2 to 1e-4.
* ``"backprop"``: differentiate through the solver's operations; exact for
  the computed solution and usually faster, memory grows with the number of
  steps. For "dopri5" and the fixed-step methods.

XLA: Keras compiles models with XLA when it can (``jit_compile="auto"`` on
GPUs); blocks with "bdf" or with "dopri5" + "backprop" opt out
(``supports_jit = False``), everything else compiles.

Dtypes and backends: float32 and float64 (``y0``'s dtype, or the layer's
dtype policy; the dynamics must use the same). Everything works eagerly and
in ``tf.function`` / ``model.fit`` (compiled code is far faster). The solvers
need Keras' TensorFlow backend; on another backend ``import odelayers`` works
and using ``odeint``/``ODEBlock`` raises ``UnsupportedBackendError``.

Example
-------
::

    import keras, odelayers

    class Dynamics(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = odelayers.ConcatDense(32, activation="tanh")
            self.out = odelayers.ConcatDense(3)

        def call(self, h, t):
            return self.out(self.hidden(h, t=t), t=t)

    model = keras.Sequential([
        keras.Input((2,)),
        odelayers.ODEBlock(Dynamics(), t0=0.0, t1=1.0, augment=1),  # 2 + 1 channels
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile("adam", "binary_crossentropy")
    history = model.fit(x, y, epochs=10)      # logs loss and nfe
    history.history["nfe"]                    # NFE of each epoch's last batch

    # Functional: dy/dt = -y on t = 0, 0.5, 1
    y = odelayers.odeint(lambda t, y: -y, tf.ones([3]), [0.0, 0.5, 1.0])   # shape [3, 3]

A dynamics layer used inside a saved model must be serialisable: register it
with ``@keras.saving.register_keras_serializable()`` and give it a
``get_config`` if its constructor takes arguments.
"""

from odelayers import errors
from odelayers._blocks import ConcatConv2D, ConcatDense
from odelayers._layers import ODEBlock
from odelayers._odeint import odeint

__all__ = [
    "ConcatConv2D",
    "ConcatDense",
    "ODEBlock",
    "available_methods",
    "errors",
    "odeint",
]


def available_methods() -> dict:
    """The solver registry: ``{method name: one-line description}``, sorted by name."""
    from odelayers._solvers import METHODS

    return {name: METHODS[name].summary for name in sorted(METHODS)}
