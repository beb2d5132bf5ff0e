"""odelayers: Neural ODE layers for Keras 3, on TensorFlow Probability's ODE solvers.

A Neural ODE (Chen et al., 2018) replaces a stack of residual blocks
``h <- h + f(h)`` by the solution of ``dh/dt = f(h, t)``: the ResNet update
is one Euler step of that ODE, and any ODE solver can take its place.

Public API
----------
``odeint(func, y0, t, method="dopri5", rtol=1e-3, atol=1e-6, step_size=None,
num_steps=None, max_num_steps=4096, first_step=None, gradient="adjoint",
adjoint_norm="seminorm", options=None, full_output=False, **overrides)``
    Solve ``dy/dt = func(t, y)``, ``y(t[0]) = y0``; returns the states at
    every time of ``t`` stacked on the first axis (``[len(t), *y0.shape]``),
    like ``torchdiffeq.odeint``.

``ODEBlock(dynamics, t0=0.0, t1=1.0, method="dopri5", rtol=1e-3, atol=1e-6,
step_size=None, num_steps=None, gradient="adjoint", augment=0, t_eval=None,
max_num_steps=4096, first_step=None, nfe_metric_name="nfe",
adjoint_norm="seminorm", options=None, trainable_t1=False, t1_metric_name="t1",
**overrides)``
    A Keras layer mapping ``h(t0) = inputs`` to ``h(t1)``, where ``dynamics``
    is any Keras layer with ``call(self, h, t)``. States ``[B, D]`` or
    ``[B, H, W, C]``. ``augment=k`` integrates with ``k`` extra zero channels
    (augmented Neural ODEs) and keeps them in the output. It reports the
    number of function evaluations (NFE) of its last forward solve as a
    metric ``"nfe"`` in ``model.fit`` logs and ``History``, and as
    ``block.nfe`` (under ``tf.distribute``: the largest over the replicas).
    ``trainable_t1=True`` learns the end time, ``t1 = t0 + softplus(raw)``,
    solving over s in [0, 1] with the dynamics scaled by ``t1 - t0``
    (fixed-step methods keep their number of steps); it is logged as the
    metric ``"t1"`` and read as ``block.current_t1``; ``t_eval`` is refused
    with it. Under a mixed dtype policy (``mixed_float16``) the block and
    its dynamics compute in float32 and the output has the policy's compute
    dtype.

``ConcatConv2D(filters, kernel_size, ...)``, ``ConcatDense(units, ...)``
    ``Conv2D`` / ``Dense`` that see the time ``t`` as an extra input channel /
    feature (Chen et al.'s ``ConcatConv2d``); ``call(h, t)``.

``GroupNormalization(groups=32, axis=-1, epsilon=1e-3, center=True,
scale=True, beta_initializer="zeros", gamma_initializer="ones", ...)``
    ``keras.layers.GroupNormalization`` (a subclass: same arguments, weights
    ``gamma``/``beta``, ``get_config`` and result) computing the group
    statistics from per-channel moments in one pass over the input: 2.2-3.1x
    faster on CPU with two or more channels per group, level with one
    (``benchmarks/bench_group_norm.py``). Use it in dynamics, which run once
    per function evaluation.

``SolverOptions(method="dopri5", rtol=1e-3, atol=1e-6, step_size=None,
num_steps=None, max_num_steps=4096, first_step=None, gradient="adjoint",
adjoint_norm="seminorm", error_norm="rms", parallel_iterations=1,
lazy_dense_output=True, fuse_min_elements=4096)``
    Every solver setting in one frozen, validated object:
    ``odeint(f, y0, t, options=opts)`` and ``ODEBlock(f, options=opts)``
    take it, and keywords next to it replace its fields. Importing it does
    not import TensorFlow (e.g. for a command line's ``--help``).
    ``METHODS`` (``FIXED_STEP_METHODS`` among them), ``GRADIENTS``,
    ``ADJOINT_NORMS``, ``ERROR_NORMS`` and ``DEFAULT_MAX_NUM_STEPS`` are its
    valid values and default step limit.

``DormandPrince(rtol, atol, options=None, **overrides)``
    The "dopri5" solver as a ``tfp.math.ode.Solver``
    (``.solve(ode_fn, t0, y0, solution_times)``), configured like ``odeint``.

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

Import: ``import odelayers`` imports TensorFlow and Keras on first use of
a name that needs them (``ODEBlock``, ``odeint``, ...), or at once when Keras
is already imported. Loading a saved model needs ``ODEBlock`` registered
with Keras: import Keras before odelayers, or use ``odelayers.ODEBlock``
(or pass it in ``custom_objects``) before ``keras.saving.load_model``.

XLA: Keras compiles models with XLA when it can (``jit_compile="auto"`` on
GPUs); blocks with "bdf" or with "dopri5" + "backprop" opt out
(``supports_jit = False``), everything else compiles.

Dtypes and backends: float32 and float64 (``y0``'s dtype, or the layer's
dtype policy; the dynamics must use the same; under a mixed policy, float32
inside the block). Everything works eagerly and
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

import sys as _sys

from odelayers import errors
from odelayers._options import (
    ADJOINT_NORMS,
    DEFAULT_MAX_NUM_STEPS,
    ERROR_NORMS,
    FIXED_STEP_METHODS,
    GRADIENTS,
    METHODS,
    SolverOptions,
)

# Names that need Keras or TensorFlow: loaded on first access (PEP 562), so
# that `from odelayers import SolverOptions` stays free of TensorFlow.
_LAZY = (
    "ConcatConv2D",
    "ConcatDense",
    "DormandPrince",
    "GroupNormalization",
    "ODEBlock",
    "odeint",
)

__all__ = [
    "ADJOINT_NORMS",
    "DEFAULT_MAX_NUM_STEPS",
    "ERROR_NORMS",
    "FIXED_STEP_METHODS",
    "GRADIENTS",
    "METHODS",
    "ConcatConv2D",
    "ConcatDense",
    "DormandPrince",
    "GroupNormalization",
    "ODEBlock",
    "SolverOptions",
    "available_methods",
    "errors",
    "odeint",
]


def _load(name: str):
    # Plain imports (not importlib) keep every edge visible to readers and checks.
    if name in ("ConcatConv2D", "ConcatDense"):
        from odelayers import _blocks as module
    elif name == "GroupNormalization":
        from odelayers import _group_norm as module
    elif name == "DormandPrince":
        from odelayers._solvers import dormand_prince as module
    elif name == "ODEBlock":
        from odelayers import _layers as module
    else:
        from odelayers import _odeint as module
    value = getattr(module, name)
    globals()[name] = value  # later accesses skip __getattr__
    return value


def __getattr__(name: str):
    if name in _LAZY:
        return _load(name)
    raise AttributeError(f"module 'odelayers' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


def available_methods() -> dict:
    """The solver registry: ``{method name: one-line description}``, sorted by name."""
    from odelayers._solvers.registry import SOLVERS

    return {name: SOLVERS[name].summary for name in sorted(SOLVERS)}


def _register_with_keras() -> None:
    """Import the layers, which registers them with Keras' serialisation."""
    for name in ("ConcatConv2D", "GroupNormalization", "ODEBlock"):
        _load(name)


class _AfterKerasImport:
    """Registers odelayers' layers as soon as Keras is imported.

    ``keras.models.load_model`` finds ``odelayers>ODEBlock`` only if the class
    was registered, i.e. its module imported. With ``import odelayers`` before
    ``import keras`` nothing would have imported it: this finder, first on
    ``sys.meta_path`` until Keras is imported, lets the normal import of
    ``keras`` happen and then registers the layers.
    """

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        _sys.meta_path.remove(self)  # once; the lookup below must not come back here
        from importlib.util import find_spec

        spec = find_spec("keras")  # what the other finders return; imports nothing
        if spec is None or spec.loader is None:
            return spec
        run_module = spec.loader.exec_module

        def run_then_register(module):
            run_module(module)
            _register_with_keras()

        spec.loader.exec_module = run_then_register  # this spec's own loader object
        return spec


if "keras" in _sys.modules:  # loading costs nothing more, and registers the layers now
    _register_with_keras()
else:
    _sys.meta_path.insert(0, _AfterKerasImport())
