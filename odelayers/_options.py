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
GRADIENTS = ("adjoint", "backprop")
ADJOINT_NORMS = ("seminorm", "full")
ERROR_NORMS = ("rms", "tfp")
DEFAULT_MAX_NUM_STEPS = 4096
_ALIASES = {"norm": "error_norm"}  # torchdiffeq's names for our fields


def available_methods() -> dict:
    """``{method name: one-line description}``, sorted by name."""
    return {name: SOLVERS[name].summary for name in sorted(SOLVERS)}


def _names(values, last=", ") -> str:
    quoted = [repr(v) for v in values]
    return ", ".join(quoted[:-1]) + last + quoted[-1] if len(quoted) > 1 else "".join(quoted)


def _choice(name: str, value, valid, explanation: str, listed: str = "Valid") -> str:
    if not isinstance(value, str) or value.lower() not in valid:
        raise ValueError(f"Unknown {name} {value!r}. {listed}: {_names(valid)} ({explanation}).")
    return value.lower()


def _positive(name: str, value):
    """A numeric field checked: positive, an int for ``_INTEGERS``; ``None`` if optional."""
    if value is None and name not in _REQUIRED:
        return None
    if name in _INTEGERS:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        return int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a positive number, got {value!r} ({type(value).__name__})."
        )
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}.")
    return float(value)


_NUMBERS = "rtol atol step_size num_steps max_num_steps first_step min_step max_step".split()
_INTEGERS, _REQUIRED = ("num_steps", "max_num_steps"), ("rtol", "atol", "max_num_steps")


@dataclasses.dataclass(frozen=True)
class SolverOptions:
    """How ``odeint`` and ``ODEBlock`` solve, checked and normalised when created.

    An invalid value raises ``ValueError`` or ``TypeError`` naming the field and
    what to pass instead. Keywords passed beside ``options=`` replace its fields.

    Attributes:
        method: one of ``METHODS`` (``odelayers.available_methods()``).
        rtol, atol: error tolerances of the adaptive methods, per element
            ``atol + rtol * |y|``.
        step_size: fixed-step methods: the largest step.
        num_steps: fixed-step methods, instead of ``step_size``: the number of
            equal steps over the whole time span.
        max_num_steps: adaptive methods give up after this many steps.
        first_step: adaptive methods: the first step size; ``None`` chooses it.
        gradient: ``"adjoint"`` (memory independent of the number of steps)
            or ``"backprop"`` (through the solver's operations).
        adjoint_norm: dopri5 + adjoint: ``"seminorm"`` bounds the backward
            solve's error over the state and its adjoint only; ``"full"`` also
            over the parameter-gradient integrals (TFP's own adjoint).
        error_norm: dopri5's step-size controller: ``"rms"`` (SciPy's and torchdiffeq's
            ``rms(err / tol)``), ``"tfp"`` (TFP's ``sqrt(mean((err / tol)**4))``), or a
            callable ``norm(err / tol)`` of a flat tensor, accepting a step at most 1.
        min_step, max_step: dopri5: a step shrunk below ``min_step`` stops the
            solve; no step is longer than ``max_step`` (``None``: no bound).
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
        if not isinstance(options, cls | None):
            raise TypeError("options must be an odelayers.SolverOptions or a dict of its fields, "
                            f"got {type(options).__name__}. Build one with "
                            "odelayers.SolverOptions(method=..., rtol=...).")  # fmt: skip
        unknown = sorted(set(overrides) - set(cls.field_names()))
        if unknown:
            raise TypeError(
                f"Unknown solver option(s) {_names(unknown)}. Valid: {_names(cls.field_names())}."
            )
        return dataclasses.replace(options or cls(), **overrides)

    def to_dict(self) -> dict:
        """The fields as plain Python values (JSON-serialisable)."""
        return dataclasses.asdict(self)

    @property
    def solver(self):
        """The solver class of ``method``."""
        return SOLVERS[self.method]

    @property
    def is_fixed_step(self) -> bool:
        return not self.solver.adaptive

    @property
    def jit_compiles(self) -> bool:
        """Whether XLA compiles this solve (a layer's ``supports_jit``)."""
        return self.gradient in self.solver.jit_gradients

    def _checked(self) -> dict:
        kinds = f"adaptive: {_names(ADAPTIVE_METHODS)}; fixed step: {_names(FIXED_STEP_METHODS)}"
        method = _choice("ODE method", self.method, sorted(METHODS), kinds, "Valid methods")
        modes = "'adjoint': memory flat in the number of steps; 'backprop': through the steps"
        gradient = _choice("gradient mode", self.gradient, GRADIENTS, modes, "Valid modes")
        norms = "'seminorm': the adjoint's error over the state and adjoint only; 'full': all"
        adjoint_norm = _choice("adjoint_norm", self.adjoint_norm, ADJOINT_NORMS, norms)
        error_norm, or_callable = self.error_norm, "or a callable norm(err/tol) -> scalar"
        if not callable(error_norm):
            error_norm = _choice("error_norm", error_norm, ERROR_NORMS, or_callable)
        values = {name: _positive(name, getattr(self, name)) for name in _NUMBERS}
        values.update(method=method, gradient=gradient, adjoint_norm=adjoint_norm)
        values["error_norm"] = error_norm
        _check_combinations(SOLVERS[values["method"]], **values)
        return values


def _check_combinations(solver, *, method, step_size, num_steps, first_step, **values) -> None:
    """Refuse fields the method does not take, and fields that contradict each other."""
    gradient, min_step, max_step = values["gradient"], values["min_step"], values["max_step"]
    if gradient not in solver.gradients:
        others = _names(name for name, s in SOLVERS.items() if gradient in s.gradients)
        raise ValueError(f"method={method!r} supports gradient={_names(solver.gradients, ' or ')} "
                         f"only, got gradient={gradient!r}. Use gradient={solver.gradients[0]!r}, "
                         f"or a method that supports {gradient!r} ({others}).")  # fmt: skip
    if (min_step or max_step) and not solver.step_bounds:
        bounded = _names(name for name, s in SOLVERS.items() if s.step_bounds)
        raise ValueError(
            f"min_step and max_step apply to method={bounded} only, got method={method!r}."
        )
    if min_step and max_step and min_step > max_step:
        raise ValueError(f"min_step={min_step:g} must not exceed max_step={max_step:g}.")
    if solver.adaptive and (step_size is not None or num_steps is not None):
        raise ValueError(f"method={method!r} chooses its own step sizes from rtol and atol; "
                         "step_size and num_steps apply to the fixed-step methods "
                         f"{_names(FIXED_STEP_METHODS, ' and ')} only. To set the first step, "
                         "pass first_step.")  # fmt: skip
    if solver.adaptive:
        return
    if step_size is None and num_steps is None:
        raise ValueError(f"method={method!r} takes fixed steps: pass step_size=... (e.g. 0.1) or "
                         "num_steps=... (the number of equal steps from the first to the last "
                         f"time). Or use an adaptive method: {_names(ADAPTIVE_METHODS, ' or ')}.")  # fmt: skip
    if step_size is not None and num_steps is not None:
        raise ValueError("Pass either step_size or num_steps, not both (got "
                         f"step_size={step_size}, num_steps={num_steps}).")  # fmt: skip
    if first_step is not None:
        raise ValueError(f"first_step applies to adaptive methods only; method={method!r} takes "
                         "fixed steps of step_size.")  # fmt: skip
