"""``ODEBlock``: a Keras layer that maps h(t0) to h(t1) by solving dh/dt = f(h, t)."""

from __future__ import annotations

import inspect

import keras
import numpy as np

from odelayers import _precision, _time
from odelayers._backend import require_tensorflow
from odelayers._metrics import LastValue
from odelayers._options import SolverOptions


def _takes_time(layer) -> bool:
    """Whether ``layer.call`` has a parameter named ``t``."""
    try:
        return "t" in inspect.signature(layer.call).parameters
    except (TypeError, ValueError):
        return False


@keras.saving.register_keras_serializable(package="odelayers")
class ODEBlock(keras.layers.Layer):
    """Continuous-depth block (Chen et al., 2018): ``h(t1)`` from ``h(t0) = inputs``.

    Solves ``dh/dt = dynamics(h, t)`` from ``t0`` to ``t1`` with the input as
    the initial state and returns the final state (or the states at
    ``t_eval``). Needs Keras' TensorFlow backend.

    Args:
        dynamics: a Keras layer computing dh/dt. Its ``call(self, h, t)``
            receives the state and, as keyword ``t``, the time (a scalar
            tensor); a layer whose ``call`` has no ``t`` parameter (e.g. a
            ``keras.Sequential``) makes the ODE autonomous. Its output must
            have the state's shape. It becomes a sub-layer of the block
            (weights, saving). Dynamics are evaluated many times per solve:
            keep them deterministic (no dropout) and free of batch statistics
            (prefer ``GroupNormalization`` to ``BatchNormalization``).
        t0, t1: integration interval, ``t1 > t0``. With ``trainable_t1``,
            ``t1`` is where the learned end time starts.
        trainable_t1: learn the end time: ``t1 = t0 + softplus(raw)`` with
            ``raw`` a trainable weight (``t1`` stays above ``t0``). The block
            solves ``dh/ds = T f(h, t0 + s T)``, ``T = t1 - t0``, over s in
            [0, 1], so every method and gradient mode trains ``t1``;
            fixed-step methods keep their number of steps (the step scales
            with the interval). ``block.current_t1`` is its value and the
            metric ``t1_metric_name`` reports it in ``fit`` logs. Not
            combined with ``t_eval`` (fixed output times would fall outside
            a moving interval).
        method: the solver method, as in ``odelayers.odeint``.
        options: an ``odelayers.SolverOptions``; defaults: its defaults.
            Keywords naming its fields (``rtol``, ``atol``, ``step_size``,
            ``num_steps``, ``max_num_steps``, ``first_step``, ``gradient``,
            ``adjoint_norm``, ...) replace them, as in ``odelayers.odeint``.
            ``gradient`` defaults to ``"adjoint"`` (memory independent of the
            number of steps); ``"backprop"`` differentiates through the steps.
        augment: number of zero channels appended to the last axis of the
            input before integrating (augmented Neural ODEs, Dupont et al.,
            2019): the ODE then lives in a higher-dimensional space, which
            lets it represent maps a plain Neural ODE cannot (trajectories of
            an ODE cannot cross). The output keeps the extra channels, so the
            next layer sees ``C + augment`` channels and can use them. The
            dynamics are built on, and must return, ``C + augment`` channels.
        t_eval: ``None`` (default) to return ``h(t1)``, shaped like the
            (augmented) input. Or increasing times within ``[t0, t1]``: the
            output is the trajectory ``[B, len(t_eval), ...]`` (batch first).
        nfe_metric_name: name of the metric reporting the number of function
            evaluations (NFE) of the last forward solve. Give blocks distinct
            names when a model has several.
        t1_metric_name: name of the metric reporting the learned ``t1``
            (``trainable_t1=True`` only).
        **kwargs: solver options as above, and ``keras.layers.Layer``
            arguments (``name``, ``dtype``, ...).

    NFE: during ``fit``/``evaluate`` the block reports a metric ``"nfe"``
    (progress bar and ``History``; at the end of an epoch, the value of its
    last batch), and ``block.nfe`` returns it as a Python int afterwards.
    Under a ``tf.distribute`` strategy it is the largest NFE of the replicas.

    Mixed precision: under a mixed policy (``mixed_float16``,
    ``mixed_bfloat16``) the block and its dynamics compute in float32 (the
    dynamics' sub-layers that follow the mixed policy are switched to
    float32 when the block is created) and the output has the policy's
    compute dtype.

    Example::

        class Dynamics(keras.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.hidden = odelayers.ConcatDense(32, activation="tanh")
                self.out = odelayers.ConcatDense(2)

            def call(self, h, t):
                return self.out(self.hidden(h, t=t), t=t)

        block = odelayers.ODEBlock(Dynamics(), t0=0.0, t1=1.0, augment=1)
    """

    def __init__(
        self,
        dynamics,
        t0=0.0,
        t1=1.0,
        method=None,
        *,
        options=None,
        augment=0,
        t_eval=None,
        nfe_metric_name="nfe",
        trainable_t1=False,
        t1_metric_name="t1",
        **kwargs,
    ):
        require_tensorflow("ODEBlock")
        # Keyword arguments that name a solver option override `options`; the
        # rest go to keras.layers.Layer.
        overrides = {
            name: kwargs.pop(name) for name in SolverOptions.field_names() if name in kwargs
        }
        if method is not None:
            overrides["method"] = method
        options = SolverOptions.resolve(options, **overrides)
        super().__init__(**kwargs)
        self.options = options
        from odelayers import _validate

        if not isinstance(dynamics, keras.layers.Layer):
            raise TypeError(
                "dynamics must be a keras.layers.Layer whose call(h, t) returns dh/dt, "
                f"got {type(dynamics).__name__}. Wrap plain functions in a Layer "
                "(odeint accepts plain functions)."
            )
        self.t0, self.t1, self.t_eval = _validate.block_times(t0, t1, t_eval)
        self.augment = _validate.augment(augment)
        for name, value in (
            ("nfe_metric_name", nfe_metric_name),
            ("t1_metric_name", t1_metric_name),
        ):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string, got {value!r}.")
        self.trainable_t1 = _validate.trainable_t1(trainable_t1, self.t_eval)
        self.dynamics = dynamics
        self._dynamics_takes_time = _takes_time(dynamics)
        self._integration_dtype = _precision.integration_dtype(self.dtype_policy)
        if _precision.is_mixed(self.dtype_policy):
            _precision.compute_dynamics_in(dynamics, self._integration_dtype)
        self._nfe_tracker = LastValue(name=nfe_metric_name)
        self._t1_tracker = None
        self._solve_options = self.options
        if self.trainable_t1:
            self._t1_tracker = LastValue(name=t1_metric_name, dtype="float32", replicas="same")
            self._solve_options = _time.unit_interval_options(self.options, self.t1 - self.t0)
        # Keras compiles models with XLA when it can ("auto" on GPUs). XLA
        # handles the adjoint and the fixed-step loops, but not backprop
        # through TFP's adaptive loops (unbounded while loops) nor BDF's
        # Jacobians: such blocks opt out.
        self.supports_jit = self.options.is_fixed_step or self.options.gradient == "adjoint"
        self.supports_jit = self.supports_jit and self.options.method != "bdf"
        self._times = self._solve_times()
        # With t_eval starting after t0, the state at t0 is not an output.
        self._first_output = 1 if self.t_eval is None or self.t_eval[0] > self.t0 else 0

    def _solve_times(self):
        """The times handed to the solver: s = 0, 1 when t1 is learned, else t0 .. t1."""
        if self.trainable_t1:
            times = [0.0, 1.0]
        elif self.t_eval is None:
            times = [self.t0, self.t1]
        elif self.t_eval[0] > self.t0:
            times = [self.t0, *self.t_eval]
        else:
            times = list(self.t_eval)
        return np.asarray(times, dtype=np.float64)

    # -- Keras API -----------------------------------------------------------

    def _state_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 2:
            raise ValueError(
                f"ODEBlock expects a batch of states, shape [B, D] or [B, H, W, C], "
                f"got input shape {input_shape}."
            )
        channels = input_shape[-1]
        if self.augment and channels is None:
            raise ValueError("augment needs the input's last axis (channels) to be known.")
        return input_shape[:-1] + ((channels + self.augment) if channels is not None else None,)

    def build(self, input_shape):
        state_shape = self._state_shape(input_shape)
        dtype = self._integration_dtype
        if self.dynamics.compute_dtype != dtype:
            raise ValueError(
                f"The dynamics layer {self.dynamics.name!r} computes in "
                f"{self.dynamics.compute_dtype} but the ODEBlock in {dtype}. "
                f"Create both with the same dtype, e.g. dtype='{dtype}' for "
                "the dynamics (or keras.config.set_floatx before creating the layers)."
            )
        if self.trainable_t1:
            # Not autocast: under a mixed policy t1 would be read in float16.
            self._t1_raw = self.add_weight(
                name="t1_raw",
                shape=(),
                initializer="zeros",
                trainable=True,
                autocast=False,
            )
            # Assigned rather than a Constant initializer, which rounds through float32.
            self._t1_raw.assign(_time.raw_from_span(self.t1 - self.t0))
        # Calling the dynamics on symbolic tensors builds its weights and
        # gives its output shape without computing anything.
        state = keras.KerasTensor(state_shape, dtype=dtype)
        if self._dynamics_takes_time:
            time = keras.KerasTensor((), dtype=dtype)
            derivative = self.dynamics(state, t=time)
        else:
            derivative = self.dynamics(state)
        if not isinstance(derivative, keras.KerasTensor) or not _same_shape(
            derivative.shape, state_shape
        ):
            got = getattr(derivative, "shape", type(derivative).__name__)
            extra = (
                f" (input channels {state_shape[-1] - self.augment} + augment {self.augment})"
                if self.augment
                else ""
            )
            raise ValueError(
                f"The dynamics layer {self.dynamics.name!r} maps a state of shape "
                f"{state_shape}{extra} to {got}; dh/dt must have the state's shape. "
                f"Make its last layer output {state_shape[-1]} features/channels "
                "(and keep the spatial size, e.g. padding='same')."
            )

    def call(self, inputs, training=None):
        import tensorflow as tf

        from odelayers import _odeint

        # Under a mixed policy: float16 in, float32 solve, float16 out.
        state = tf.cast(inputs, self._integration_dtype)
        if self.augment:
            padding = [[0, 0]] * (len(state.shape) - 1) + [[0, self.augment]]
            state = tf.pad(state, padding)

        def dynamics(t, h):
            kwargs = {} if training is None else {"training": training}
            if self._dynamics_takes_time:
                kwargs["t"] = t
            return self.dynamics(h, **kwargs)

        if self.trainable_t1:
            dynamics = _time.rescaled(dynamics, self.t0, self._span)
        times = tf.constant(self._times, state.dtype)
        final_only = self.t_eval is None
        states, nfe = _odeint.solve(
            dynamics, state, times, self._times, self._solve_options, final_only=final_only
        )
        self._nfe_tracker.update_state(nfe)
        if self.trainable_t1:
            # Read after the solve, not before: under MirroredStrategy an earlier
            # read of the mirrored weight in the same step kept it out of the
            # variables TFP's adjoint differentiates on one replica (no gradient).
            self._t1_tracker.update_state(self.t0 + self._span("float32"))
        if final_only:
            return tf.cast(states, self.compute_dtype)
        trajectory = states[self._first_output :]
        rank = len(trajectory.shape)
        return tf.cast(tf.transpose(trajectory, [1, 0, *range(2, rank)]), self.compute_dtype)

    def _span(self, dtype):
        """``T = t1 - t0 = softplus(raw)`` in ``dtype``, read from the weight on every call."""
        return keras.ops.softplus(keras.ops.cast(self._t1_raw, dtype))

    def compute_output_shape(self, input_shape):
        state_shape = self._state_shape(input_shape)
        if self.t_eval is None:
            return state_shape
        return (state_shape[0], len(self.t_eval), *state_shape[1:])

    def get_config(self):
        config = super().get_config()
        dynamics = keras.saving.serialize_keras_object(self.dynamics)
        # The block builds its dynamics (on the augmented state shape); a
        # build_config would make Keras try to build it alone when loading.
        dynamics.pop("build_config", None)
        # The options' fields stay flat keys of the config, as before
        # SolverOptions existed, so older .keras files load unchanged.
        config.update(
            {
                "dynamics": dynamics,
                "t0": self.t0,
                "t1": self.t1,
                **self.options.to_dict(),
                "augment": self.augment,
                "t_eval": None if self.t_eval is None else list(self.t_eval),
                "nfe_metric_name": self._nfe_tracker.name,
                "trainable_t1": self.trainable_t1,
                "t1_metric_name": self._t1_tracker.name if self._t1_tracker else "t1",
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        # Saved before error_norm existed, or while "tfp" was the default: keep
        # the norm that model was solved with.
        config.setdefault("error_norm", "tfp")
        config["dynamics"] = keras.saving.deserialize_keras_object(config["dynamics"])
        return cls(**config)

    # -- NFE -------------------------------------------------------------------

    @property
    def nfe(self) -> int:
        """Function evaluations of the last forward solve (read eagerly)."""
        return int(keras.ops.convert_to_numpy(self._nfe_tracker.value))

    @property
    def current_t1(self) -> float:
        """The end time now: the learned value with ``trainable_t1``, else ``t1`` (read eagerly)."""
        if not self.trainable_t1:
            return self.t1
        return self.t0 + float(keras.ops.convert_to_numpy(self._span("float64")))

    @property
    def nfe_metric(self):
        """The ``keras.metrics.Metric`` that reports the NFE (named ``nfe_metric_name``)."""
        return self._nfe_tracker


def _same_shape(a, b) -> bool:
    """Equal shapes, where an unknown (None) dimension matches anything."""
    a, b = tuple(a), tuple(b)
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))
