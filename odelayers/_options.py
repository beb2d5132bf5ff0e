"""``SolverOptions``: every solver setting, its default and its check, in one place."""

import dataclasses
import math
import numbers
from collections.abc import Mapping

from odelayers._solvers import SOLVERS

METHODS = tuple(SOLVERS)
"""Solver names, the default first (descriptions: ``odelayers.available_methods()``)."""
ADAPTIVE_METHODS = tuple(name for name, s in SOLVERS.items() if s.adaptive)
FIXED_STEP_METHODS = tuple(name for name, s in SOLVERS.items() if not s.adaptive)
BACKPROP_METHODS = tuple(name for name, s in SOLVERS.items() if s.backprop)
GRADIENTS = ("adjoint", "backprop")
ADJOINT_NORMS = ("seminorm", "full")
ERROR_NORMS = ("rms", "tfp")
DEFAULT_MAX_NUM_STEPS = 4096
# torchdiffeq's names for our fields.
_ALIASES = {"norm": "error_norm"}


def _names(values, last=", ") -> str:
    quoted = [repr(v) for v in values]
    return ", ".join(quoted[:-1]) + last + quoted[-1] if len(quoted) > 1 else "".join(quoted)


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
    """How ``odeint`` and ``ODEBlock`` solve, checked and normalised when created.

    An invalid value raises ``ValueError`` or ``TypeError`` naming the field
    and what to pass instead. ``odeint(..., options=opts, rtol=1e-5)`` and
    ``ODEBlock(..., options=opts)`` take one; keywords beside it replace fields.

    Attributes:
        method: one of ``METHODS``: ``"dopri5"`` (adaptive Dormand-Prince
            5(4)), ``"bdf"`` (adaptive, stiff problems, small states),
            ``"euler"``, ``"midpoint"``, ``"rk4"`` (fixed step).
        rtol, atol: error tolerances of the adaptive methods, per element
            ``atol + rtol * |y|``. 16-bit states refuse ``rtol`` below 1e-2
            (float16) or 1e-1 (bfloat16): rounding would swamp the error estimate.
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
        error_norm: dopri5's step-size controller: ``"rms"``, SciPy's and
            torchdiffeq's ``rms(err / tol)``, so rtol and atol mean what they
            mean there; ``"tfp"``, TFP's ``sqrt(mean((err / tol)**4))``; or a
            callable ``norm(err / tol) -> scalar`` of a flat tensor (a step is
            accepted when it is at most 1), as torchdiffeq's ``norm``.
        min_step, max_step: dopri5: a step the controller shrinks below
            ``min_step`` stops the solve (as an underflow); no step is longer
            than ``max_step``. ``None``: no bound.
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
    min_step: float | None = None
    max_step: float | None = None

    def __post_init__(self):
        for name, value in self._checked().items():
            object.__setattr__(self, name, value)

    @classmethod
    def field_names(cls) -> tuple:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def resolve(cls, options=None, **overrides) -> "SolverOptions":
        """``options`` (or the defaults) with ``overrides`` replacing its fields."""
        if isinstance(options, Mapping):  # torchdiffeq's spelling: options=dict(step_size=0.1)
            options, overrides = None, {**options, **overrides}
        overrides = {_ALIASES.get(name, name): value for name, value in overrides.items()}
        if options is None:
            options = cls()
        elif not isinstance(options, cls):
            raise TypeError(
                f"options must be an odelayers.SolverOptions or a dict of its fields, got "
                f"{type(options).__name__}. Build one with odelayers.SolverOptions(method=..., "
                "rtol=...)."
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

    @property
    def solver(self):
        """The solver class of ``method``."""
        return SOLVERS[self.method]

    def _checked(self) -> dict:
        method = _choice(
            "ODE method",
            self.method,
            sorted(METHODS),
            f"adaptive: {_names(ADAPTIVE_METHODS)}; fixed step: {_names(FIXED_STEP_METHODS)}",
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
        error_norm = self.error_norm
        if not callable(error_norm):
            error_norm = _choice(
                "error_norm",
                error_norm,
                ERROR_NORMS,
                "'rms': SciPy's and torchdiffeq's rms(err/tol); 'tfp': TFP's "
                "sqrt(mean((err/tol)**4)); or a callable norm(err/tol) -> scalar",
            )
        min_step = _positive_number("min_step", self.min_step, allow_none=True)
        max_step = _positive_number("max_step", self.max_step, allow_none=True)
        if (min_step or max_step) and method != "dopri5":
            raise ValueError(
                f"min_step and max_step apply to method='dopri5' only, got method={method!r}."
            )
        if min_step and max_step and min_step > max_step:
            raise ValueError(f"min_step={min_step:g} must not exceed max_step={max_step:g}.")
        if gradient == "backprop" and method not in BACKPROP_METHODS:
            raise ValueError(
                f"method={method!r} supports gradient='adjoint' only, got "
                f"gradient={gradient!r}. Use gradient='adjoint', or a method that "
                f"supports 'backprop' ({_names(BACKPROP_METHODS)})."
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
            min_step=min_step,
            max_step=max_step,
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
                f"last time). Or use an adaptive method: {_names(ADAPTIVE_METHODS, ' or ')}."
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
            "step_size and num_steps apply to the fixed-step methods "
            f"{_names(FIXED_STEP_METHODS, ' and ')} only. To set the first step, pass first_step."
        )
