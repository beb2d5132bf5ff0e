"""``SolverOptions``: every solver setting, its default and its check, in one place.

Standard library only: a command line can show the defaults (``--help``)
without importing TensorFlow.
"""

from __future__ import annotations

import dataclasses
import math
import numbers

METHODS = ("dopri5", "bdf", "euler", "midpoint", "rk4")
"""Solver names, the default first (descriptions: ``odelayers.available_methods()``)."""

FIXED_STEP_METHODS = ("euler", "midpoint", "rk4")
"""Methods that take equal steps of ``step_size`` (the others are adaptive)."""

BACKPROP_METHODS = ("dopri5", *FIXED_STEP_METHODS)
"""Methods that support ``gradient="backprop"`` (all support ``"adjoint"``)."""

GRADIENTS = ("adjoint", "backprop")
"""Gradient modes, the default first."""

ADJOINT_NORMS = ("seminorm", "full")
"""Error norms of dopri5's backward adjoint solve, the default first."""

ERROR_NORMS = ("rms", "tfp")
"""dopri5's step-size controller error measures, the default first."""

DEFAULT_MAX_NUM_STEPS = 4096
"""Adaptive solves give up after this many steps (accepted and rejected)."""

DEFAULT_FUSE_MIN_ELEMENTS = 4096
"""dopri5 stage sums over states with at least this many elements per batch
example run as one XLA-fused loop inside graphs. Measured on CPU for a
[32, 18, 18, 64] state: the six stage sums of a step take 5.0 ms fused
against 8.6 ms as separate multiplications and an add_n; below it the
fused call's fixed cost dominates."""


def _names(values) -> str:
    return ", ".join(repr(v) for v in values)


def _choice(name: str, value, valid, explanation: str, listed: str = "Valid") -> str:
    if not isinstance(value, str) or value.lower() not in valid:
        raise ValueError(f"Unknown {name} {value!r}. {listed}: {_names(valid)} ({explanation}).")
    return value.lower()


def _positive_number(name: str, value, *, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a positive number, got {value!r} ({type(value).__name__})."
        )
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}.")
    return value


def _positive_int(name: str, value, *, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


@dataclasses.dataclass(frozen=True)
class SolverOptions:
    """How ``odeint`` and ``ODEBlock`` solve: the method, its tolerances and knobs.

    Checked when created: an invalid value raises ``ValueError`` or
    ``TypeError`` naming the field and what to pass instead. Values are
    normalised (names lower-cased, numbers to ``float``/``int``).
    ``odeint(..., options=opts, rtol=1e-5)`` and ``ODEBlock(..., options=opts)``
    take one; keywords given next to it override its fields.

    Attributes:
        method: one of ``METHODS``: ``"dopri5"`` (adaptive Dormand-Prince
            5(4)), ``"bdf"`` (adaptive, stiff problems, small states),
            ``"euler"``, ``"midpoint"``, ``"rk4"`` (fixed step).
        rtol, atol: error tolerances of the adaptive methods (per element:
            ``atol + rtol * |y|``). A 16-bit state cannot meet the default
            ``rtol`` (rounding swamps the error estimate and the step size
            underflows): a solve refuses ``rtol`` below 1e-2 for float16
            and 1e-1 for bfloat16 states, and an ``atol`` that rounds to
            zero, with a ``ValueError`` saying so; use float32 states for
            finer tolerances.
        step_size: fixed-step methods: the largest step.
        num_steps: fixed-step methods, instead of ``step_size``: the number of
            equal steps over the whole time span.
        max_num_steps: adaptive methods give up after this many steps.
        first_step: adaptive methods: the first step size; ``None`` chooses it.
        gradient: ``"adjoint"`` (memory independent of the number of steps)
            or ``"backprop"`` (through the solver's operations).
        adjoint_norm: dopri5 + adjoint: ``"seminorm"`` bounds the backward
            solve's error over the state and its adjoint only; ``"full"``
            also over the parameter-gradient integrals (TFP's own adjoint).
        error_norm: dopri5's step-size controller. ``"rms"`` (default):
            SciPy's and torchdiffeq's ``rms(err/tol)`` with exponent
            ``-1/5``, so rtol and atol mean what they mean there;
            ``"tfp"`` (TFP's): ``sqrt(mean((err/tol)**4))``, the square of
            an L4 mean, with steps scaled by its ``-1/6`` power. The default
            is the measured choice (``benchmarks/bench_error_norm.py``,
            ``results/benchmarks/error_norm.md``): over dy/dt = -y, a 2-D
            rotation and an ODE-Net block ([32, 18, 18, 64] float32) at
            rtol = atol = tol in 1e-2 ... 1e-5, the final-state error was
            on average 0.68 decades from tol with "rms" against 0.77 with
            "tfp", at 12.9 against 14.5 evaluations per digit of accuracy.
            On the ODE-Net block at 1e-3 "rms" takes 26 evaluations for a
            2.3e-3 relative error, "tfp" 20 for 5.8e-3 (2.5x the error for
            0.77x the evaluations); at 1e-2 "tfp" is closer to tol. Models
            saved before "rms" became the default (configs without
            ``error_norm``) load with "tfp", the norm they were solved with.
        parallel_iterations: ``parallel_iterations`` of dopri5's loops. 1
            keeps one step's buffers alive at a time; TensorFlow's default
            10 lets later steps start early, which doubled the peak memory
            of an ODE-Net training step at no gain in speed (the steps
            depend on each other).
        lazy_dense_output: dopri5 computes the interpolation coefficients
            only for the step that crosses an output time (``True``), not
            after every trial step as TFP does (``False``, same results).
        fuse_min_elements: dopri5's stage sums over states with at least
            this many elements per batch example run as one XLA-fused loop
            inside graphs (when XLA is available).
    """

    method: str = METHODS[0]
    rtol: float = 1e-3
    atol: float = 1e-6
    step_size: float | None = None
    num_steps: int | None = None
    max_num_steps: int = DEFAULT_MAX_NUM_STEPS
    first_step: float | None = None
    gradient: str = GRADIENTS[0]
    adjoint_norm: str = ADJOINT_NORMS[0]
    error_norm: str = ERROR_NORMS[0]
    parallel_iterations: int = 1
    lazy_dense_output: bool = True
    fuse_min_elements: int = DEFAULT_FUSE_MIN_ELEMENTS

    def __post_init__(self):
        for name, value in self._checked().items():
            object.__setattr__(self, name, value)

    @classmethod
    def field_names(cls) -> tuple:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def resolve(cls, options=None, **overrides) -> SolverOptions:
        """``options`` (or the defaults) with ``overrides`` replacing its fields."""
        if options is None:
            options = cls()
        elif not isinstance(options, cls):
            raise TypeError(
                f"options must be an odelayers.SolverOptions, got {type(options).__name__}. "
                "Build one with odelayers.SolverOptions(method=..., rtol=...)."
            )
        unknown = sorted(set(overrides) - set(cls.field_names()))
        if unknown:
            raise TypeError(
                f"Unknown solver option(s) {_names(unknown)}. Valid: {_names(cls.field_names())}."
            )
        return dataclasses.replace(options, **overrides) if overrides else options

    def to_dict(self) -> dict:
        """The fields as plain Python values (JSON-serialisable)."""
        return dataclasses.asdict(self)

    @property
    def is_fixed_step(self) -> bool:
        return self.method in FIXED_STEP_METHODS

    def _checked(self) -> dict:
        method = _choice(
            "ODE method",
            self.method,
            sorted(METHODS),
            "adaptive: 'dopri5', 'bdf'; fixed step: 'euler', 'midpoint', 'rk4'",
            listed="Valid methods",
        )
        gradient = _choice(
            "gradient mode",
            self.gradient,
            GRADIENTS,
            "'adjoint': memory independent of the number of steps; 'backprop': "
            "differentiate through the solver's steps",
            listed="Valid modes",
        )
        adjoint_norm = _choice(
            "adjoint_norm",
            self.adjoint_norm,
            ADJOINT_NORMS,
            "'seminorm': the backward solve bounds the error of the state and its "
            "adjoint only, much faster at tight tolerances; 'full': also of the "
            "parameter-gradient integrals, as TFP's own adjoint",
        )
        error_norm = _choice(
            "error_norm",
            self.error_norm,
            ERROR_NORMS,
            "'rms': SciPy's and torchdiffeq's rms(err/tol); 'tfp': TFP's sqrt(mean((err/tol)**4))",
        )
        if gradient == "backprop" and method not in BACKPROP_METHODS:
            raise ValueError(
                f"method={method!r} supports gradient='adjoint' only, got "
                f"gradient={gradient!r}. Use gradient='adjoint', or a method that "
                f"supports 'backprop' ({_names(BACKPROP_METHODS)})."
            )
        if not isinstance(self.lazy_dense_output, bool):
            raise TypeError(
                f"lazy_dense_output must be True or False, got {self.lazy_dense_output!r}."
            )
        values = dict(
            method=method,
            gradient=gradient,
            adjoint_norm=adjoint_norm,
            error_norm=error_norm,
            rtol=_positive_number("rtol", self.rtol),
            atol=_positive_number("atol", self.atol),
            max_num_steps=_positive_int("max_num_steps", self.max_num_steps),
            step_size=_positive_number("step_size", self.step_size, allow_none=True),
            num_steps=_positive_int("num_steps", self.num_steps, allow_none=True),
            first_step=_positive_number("first_step", self.first_step, allow_none=True),
            parallel_iterations=_positive_int("parallel_iterations", self.parallel_iterations),
            fuse_min_elements=_positive_int("fuse_min_elements", self.fuse_min_elements),
        )
        _check_steps(method, values["step_size"], values["num_steps"], values["first_step"])
        return values


def _check_steps(method, step_size, num_steps, first_step) -> None:
    """Fixed-step methods need exactly one of step_size/num_steps; adaptive ones neither."""
    if method in FIXED_STEP_METHODS:
        if step_size is None and num_steps is None:
            raise ValueError(
                f"method={method!r} takes fixed steps: pass step_size=... (e.g. 0.1) "
                "or num_steps=... (the number of equal steps from the first to the "
                "last time). Or use an adaptive method: 'dopri5' or 'bdf'."
            )
        if step_size is not None and num_steps is not None:
            raise ValueError(
                f"Pass either step_size or num_steps, not both (got step_size={step_size}, "
                f"num_steps={num_steps})."
            )
        if first_step is not None:
            raise ValueError(
                f"first_step applies to adaptive methods only; method={method!r} takes "
                "fixed steps of step_size."
            )
    elif step_size is not None or num_steps is not None:
        raise ValueError(
            f"method={method!r} chooses its own step sizes from rtol and atol; "
            "step_size and num_steps apply to the fixed-step methods 'euler', "
            "'midpoint' and 'rk4' only. To set the first step, pass first_step."
        )
