"""The one name-to-solver registry, and the solver a ``SolverOptions`` asks for."""

from __future__ import annotations

from odelayers._options import SolverOptions
from odelayers._solvers.bdf import BDF
from odelayers._solvers.dormand_prince import DormandPrince
from odelayers._solvers.fixed_grid import RK4, Euler, Midpoint

SOLVERS = {cls.name: cls for cls in (DormandPrince, BDF, Euler, Midpoint, RK4)}
"""Method name -> solver class: each has ``name``, ``order`` and ``summary``.
Its keys are ``odelayers.METHODS``, the names ``SolverOptions`` accepts."""


def adaptive_solver(options: SolverOptions):
    """A TFP ``Solver`` for an adaptive ``options.method`` ("dopri5", "bdf")."""
    return SOLVERS[options.method](options=options)
