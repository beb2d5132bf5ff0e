"""``ODEBlock``: a Keras layer mapping h(t0) to h(t1) by solving dh/dt = f(h, t)."""

import dataclasses
import functools
import inspect
import math

import keras
import numpy as np
import tensorflow as tf

from odelayers import _cde, _odeint, _validate
from odelayers._metrics import LastValue
from odelayers._options import SolverOptions
from odelayers._solvers.fixed_grid import count_steps


def _integration_dtype(block, *sublayers):
    """The block's variable dtype, also set for ``sublayers`` under a mixed policy: Keras keeps
    numerically sensitive layers in float32, and 16-bit rounding swamps a solver's error estimate."""
    dtype = block.dtype_policy.variable_dtype
    for sublayer in sublayers if block.dtype_policy.compute_dtype != dtype else ():
        for layer in sublayer._flatten_layers(include_self=True, recursive=True):
            if layer.dtype_policy.compute_dtype != layer.dtype_policy.variable_dtype:
                layer.dtype_policy = dtype
    return dtype


# A learned end time t1 = t0 + softplus(raw) (above t0, smoothly, for every raw): with
# t = t0 + s T, T = t1 - t0, dh/dt = f(h, t) on [t0, t1] becomes dh/ds = T f(h, t0 + s T)
# on [0, 1], where T is an ordinary parameter, differentiated by every gradient mode.
def _rescaled(func, t0, span_fn, s, h):
    span = span_fn(h.dtype)
    return span * func(t0 + s * span, h)


def _unit_interval_options(options, span):
    """``options`` for s in [0, 1]: fixed-step methods keep their number of steps (a forward
    pass costs the same while ``t1`` trains); ``first_step`` is divided by ``span``."""
    if options.is_fixed_step:
        steps = options.num_steps or count_steps(span, options.step_size)
        return dataclasses.replace(options, step_size=None, num_steps=steps)
    if options.first_step is not None:
        return dataclasses.replace(options, first_step=options.first_step / span)
    return options


@keras.saving.register_keras_serializable(package="odelayers")
class ODEBlock(keras.layers.Layer):
    """Continuous-depth block (Chen et al., 2018): ``h(t1)`` from ``h(t0) = inputs``.

    Reports the function evaluations of its last forward solve as the metric
    ``nfe_metric_name`` (under ``tf.distribute``: the largest over the replicas)
    and as ``block.nfe``. Under a mixed dtype policy it integrates in float32.

    Args:
        dynamics: a Keras layer whose ``call(h, t)`` returns dh/dt shaped like
            ``h``; without a ``t`` parameter the ODE is autonomous. Evaluated
            many times per solve: keep it deterministic and free of batch
            statistics (``GroupNormalization``, not ``BatchNormalization``).
        t0, t1: the integration interval, ``t1 > t0`` (with ``trainable_t1``:
            where the learned end time starts).
        method: the solver, as in ``odelayers.odeint``.
        options: an ``odelayers.SolverOptions``; keywords naming its fields replace them.
        augment: zero channels appended to the input's last axis and kept in
            the output (augmented Neural ODEs, Dupont et al., 2019).
        t_eval: ``None`` to return ``h(t1)``, or increasing times within
            ``[t0, t1]`` to return the trajectory ``[B, len(t_eval), ...]``.
        nfe_metric_name: name of the NFE metric (distinct per block of a model).
        trainable_t1: learn the end time ``t1 = t0 + softplus(raw)``, read as
            ``block.current_t1`` (fixed-step methods keep their number of steps).
        t1_metric_name: name of the metric reporting the learned ``t1``.
        **kwargs: ``keras.layers.Layer`` arguments (``name``, ``dtype``, ...).
    """

    def __init__(self, dynamics, t0=0.0, t1=1.0, method=None, *, options=None, augment=0,
                 t_eval=None, nfe_metric_name="nfe", trainable_t1=False, t1_metric_name="t1",
                 **kwargs):  # fmt: skip
        overrides = {k: kwargs.pop(k) for k in SolverOptions.field_names() if k in kwargs}
        if method is not None:
            overrides["method"] = method
        self.options = SolverOptions.resolve(options, **overrides)
        super().__init__(**kwargs)
        if not isinstance(dynamics, keras.layers.Layer):
            raise TypeError("dynamics must be a keras.layers.Layer whose call(h, t) returns dh/dt, "
                            f"got {type(dynamics).__name__}. Wrap plain functions in a Layer "
                            "(odeint accepts plain functions).")  # fmt: skip
        self.t0, self.t1, self.t_eval = _validate.block_times(t0, t1, t_eval)
        self.augment = _validate.augment(augment)
        self.trainable_t1 = _validate.trainable_t1(trainable_t1, self.t_eval)
        names = (nfe_metric_name, t1_metric_name)
        if not all(isinstance(name, str) and name for name in names):
            raise ValueError(
                f"nfe_metric_name and t1_metric_name must be non-empty strings, got {names}."
            )
        self.dynamics, self.nfe_metric_name, self.t1_metric_name = dynamics, *names
        self._dynamics_takes_time = "t" in inspect.signature(dynamics.call).parameters
        self._integration_dtype = _integration_dtype(self, dynamics)
        self._nfe_tracker = LastValue(name=nfe_metric_name)
        self._t1_tracker, self._solve_options = None, self.options
        if self.trainable_t1:
            self._t1_tracker = LastValue(name=t1_metric_name, dtype="float32", replicas="same")
            self._solve_options = _unit_interval_options(self.options, self.t1 - self.t0)
        self.supports_jit = self.options.jit_compiles
        outputs = [self.t1] if self.t_eval is None else list(self.t_eval)
        # h(t0) is an output only when t_eval starts at t0.
        self._first_output = int(outputs[0] > self.t0)
        times = [0.0, 1.0] if self.trainable_t1 else [self.t0] * self._first_output + outputs
        self._times = np.asarray(times, dtype=np.float64)

    def _state_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 2:
            raise ValueError(f"ODEBlock expects a batch of states, shape [B, D] or [B, H, W, C], "
                             f"got input shape {input_shape}.")  # fmt: skip
        channels = input_shape[-1]
        if self.augment and channels is None:
            raise ValueError("augment needs the input's last axis (channels) to be known.")
        return input_shape[:-1] + (None if channels is None else channels + self.augment,)

    def build(self, input_shape):
        state_shape, dtype = self._state_shape(input_shape), self._integration_dtype
        if self.dynamics.compute_dtype != dtype:
            raise ValueError(f"The dynamics layer {self.dynamics.name!r} computes in "
                             f"{self.dynamics.compute_dtype} but the ODEBlock in {dtype}. Create "
                             f"both with the same dtype, e.g. dtype='{dtype}' for the dynamics "
                             "(or keras.config.set_floatx before creating them).")  # fmt: skip
        if self.trainable_t1:
            # Not autocast: under a mixed policy t1 would be read in float16.
            self._t1_raw = self.add_weight((), "zeros", name="t1_raw", autocast=False)
            # Assigned: a Constant initializer would round through float32.
            span = self.t1 - self.t0  # the inverse of softplus, finite for large and tiny spans
            self._t1_raw.assign(span + math.log(-math.expm1(-span)))
        # Symbolic tensors build the dynamics' weights and give its output shape.
        time = {"t": keras.KerasTensor((), dtype=dtype)} if self._dynamics_takes_time else {}
        derivative = self.dynamics(keras.KerasTensor(state_shape, dtype=dtype), **time)
        shape = getattr(derivative, "shape", None)
        if shape is None or not tf.TensorShape(shape).is_compatible_with(state_shape):
            got = type(derivative).__name__ if shape is None else tuple(shape)
            extra = f" (input channels {state_shape[-1] - self.augment} + augment {self.augment})"
            extra = extra if self.augment else ""
            raise ValueError(f"The dynamics layer {self.dynamics.name!r} maps a state of shape "
                             f"{state_shape}{extra} to {got}; dh/dt must have the state's shape. "
                             f"Make its last layer output {state_shape[-1]} features/channels "
                             "(and keep the spatial size, e.g. padding='same').")  # fmt: skip

    def call(self, inputs, training=None):
        state = tf.cast(inputs, self._integration_dtype)
        if self.augment:
            state = tf.pad(state, [[0, 0]] * (len(state.shape) - 1) + [[0, self.augment]])

        def dynamics(t, h):
            kwargs = {} if training is None else {"training": training}
            if self._dynamics_takes_time:
                kwargs["t"] = t
            return self.dynamics(h, **kwargs)

        if self.trainable_t1:  # T = t1 - t0 read inside, so that TFP's adjoint sees its weight
            dynamics = functools.partial(_rescaled, dynamics, self.t0, self._span)
        times, final_only = tf.constant(self._times, state.dtype), self.t_eval is None
        # Under tf.function the adjoint refuses tensors the dynamics capture from
        # outside (their gradient would be lost); variables are differentiated.
        options = self._solve_options
        states, nfe = _odeint.solve(dynamics, state, times, self._times, options, {}, final_only)
        self._nfe_tracker.update_state(nfe)
        if self.trainable_t1:
            # Read after the solve: under MirroredStrategy an earlier read of the
            # weight in the same step hid it from TFP's adjoint on one replica.
            self._t1_tracker.update_state(self.t0 + self._span("float32"))
        if final_only:
            return tf.cast(states, self.compute_dtype)
        trajectory = tf.transpose(states, [1, 0, *range(2, len(states.shape))])
        return tf.cast(trajectory[:, self._first_output :], self.compute_dtype)

    def _span(self, dtype):
        """``t1 - t0 = softplus(raw)`` in ``dtype``, read from the weight at every call."""
        return keras.ops.softplus(keras.ops.cast(self._t1_raw, dtype))

    def compute_output_shape(self, input_shape):
        state_shape = self._state_shape(input_shape)
        if self.t_eval is None:
            return state_shape
        return (state_shape[0], len(self.t_eval), *state_shape[1:])

    def get_config(self):
        dynamics = keras.saving.serialize_keras_object(self.dynamics)
        # The block builds its dynamics (on the augmented shape), not Keras.
        dynamics.pop("build_config", None)
        names = ("t0", "t1", "augment", "trainable_t1", "nfe_metric_name", "t1_metric_name")
        config = {**super().get_config(), **{name: getattr(self, name) for name in names}}
        t_eval = None if self.t_eval is None else list(self.t_eval)
        return {**config, **self.options.to_dict(), "dynamics": dynamics, "t_eval": t_eval}

    @classmethod
    def from_config(cls, config):
        dynamics = keras.saving.deserialize_keras_object(config["dynamics"])
        return cls(**{**config, "dynamics": dynamics})

    @property
    def nfe(self) -> int:
        """Function evaluations of the last forward solve."""
        return int(keras.ops.convert_to_numpy(self._nfe_tracker.value))

    @property
    def current_t1(self) -> float:
        """The end time: the learned value with ``trainable_t1``, else ``t1``."""
        if not self.trainable_t1:
            return self.t1
        return self.t0 + float(keras.ops.convert_to_numpy(self._span("float64")))

    @property
    def nfe_metric(self):
        """The ``keras.metrics.Metric`` reporting the NFE."""
        return self._nfe_tracker


@keras.saving.register_keras_serializable(package="odelayers")
class CDEBlock(keras.layers.Layer):
    """Neural CDE (Kidger et al., 2020): observations ``x [B, T, C]`` to ``z(t_T) [B, H]``.

    ``z(t_0)`` is a ``Dense`` of the first observation, then ``dz = f(z) dX`` along their
    path (``odelayers.cdeint``; NaN, missing, filled as by ``fill_missing``, to which the
    block's input may be passed first for time and count channels). NFE metric, mixed
    precision and saving as for ``ODEBlock``.

    Args:
        hidden_units: ``H``, the size of the state ``z``.
        vector_field: a layer mapping ``[B, H]`` to ``[B, H * C]`` (read as ``f(z)``
            ``[B, H, C]``); default ``Dense(field_units, "relu")``, ``Dense(H * C, "tanh")``.
        interpolation, times: the path, as in ``cdeint``; the ``T`` observation times
            (default ``0, 1, ..., T - 1``).
        method, options, rtol, atol, step_size, gradient, ...: as for ``ODEBlock``;
            fixed-step methods default to ``step_size`` the smallest gap of ``times``.
        field_units, nfe_metric_name: the default field's hidden width; the NFE metric's name.
    """

    def __init__(self, hidden_units, vector_field=None, interpolation="hermite", times=None, **kw):
        overrides = {k: kw.pop(k) for k in ("method", *SolverOptions.field_names()) if k in kw}
        times = None if times is None else tuple(_cde._knots(times, None, tf.float64)[1].tolist())
        gap = min(np.diff(times or (0, 1)))
        self.options = _cde.solver_options(kw.pop("options", None), overrides, gap)
        self.field_units, nfe_name = kw.pop("field_units", 64), kw.pop("nfe_metric_name", "nfe")
        super().__init__(**kw)
        self.hidden_units, self.times = int(hidden_units), times
        self.interpolation = _cde.interpolation_kind(interpolation)
        self._integration_dtype = _integration_dtype(self, *filter(None, [vector_field]))
        self.initial = keras.layers.Dense(hidden_units, dtype=self._integration_dtype, name="z0")
        self.vector_field = vector_field  # after z0 (built or loaded): one weight order
        self._nfe_tracker = LastValue(name=nfe_name)
        self.supports_jit = self.options.jit_compiles

    def build(self, input_shape):
        shape, dtype = tuple(input_shape), self._integration_dtype
        if len(shape) != 3 or shape[-1] is None or (shape[1] is None and self.times is None):
            known = "the channels known (and the times, unless times= is given)"
            raise ValueError(f"CDEBlock expects [batch, times, channels], {known}, got {shape}.")
        self._knots(shape[1])
        self.initial.build((None, shape[-1]))
        size = self.hidden_units * shape[-1]
        if self.vector_field is None:  # Kidger et al.'s: tanh keeps the field bounded
            units, activations = (self.field_units, size), ("relu", "tanh")
            layers = [keras.layers.Dense(n, a, dtype=dtype) for n, a in zip(units, activations)]
            self.vector_field = keras.Sequential(layers, name="vector_field")
            self.vector_field.dtype_policy = dtype  # not the global policy: no cast to 16 bits
        out = self.vector_field(keras.KerasTensor((None, self.hidden_units), dtype=dtype)).shape
        if tuple(out[1:]) != (size,):
            message = f"must map [B, {self.hidden_units}] to [B, hidden_units * channels]"
            raise ValueError(f"The vector field {message} = [B, {size}], got {tuple(out)}.")

    def _knots(self, steps):
        times = np.arange(steps, dtype=np.float64) if self.times is None else self.times
        return _cde._knots(times, steps, tf.float64)[1]

    def call(self, inputs):
        x = tf.cast(inputs, self._integration_dtype)
        times = self._knots(x.shape[1])
        x = _cde.fill_missing(times, x, time_channel=False, observed_count=False)
        shape, field = (-1, self.hidden_units, x.shape[-1]), self.vector_field
        z, info = _cde.cdeint(
            lambda t, z: tf.reshape(field(z), shape), self.initial(x[:, 0]), times, x,
            self.interpolation, options=self.options, full_output=True,
        )  # fmt: skip
        self._nfe_tracker.update_state(info["nfe"])
        return tf.cast(z, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.hidden_units)

    def get_config(self):
        field = self.vector_field and keras.saving.serialize_keras_object(self.vector_field)
        names = ("hidden_units", "interpolation", "times", "field_units")
        return {**super().get_config(), **{name: getattr(self, name) for name in names},
                "vector_field": field, "nfe_metric_name": self._nfe_tracker.name,
                **self.options.to_dict()}  # fmt: skip

    @classmethod
    def from_config(cls, config):
        field = config.pop("vector_field")
        return cls(vector_field=field and keras.saving.deserialize_keras_object(field), **config)

    nfe, nfe_metric = ODEBlock.nfe, ODEBlock.nfe_metric
