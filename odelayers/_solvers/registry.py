"""The one name-to-solver registry."""

from __future__ import annotations

from odelayers._solvers.bdf import BDF
from odelayers._solvers.dormand_prince import DormandPrince
from odelayers._solvers.fixed_grid import RK4, Euler, Midpoint

SOLVERS = {cls.name: cls for cls in (DormandPrince, BDF, Euler, Midpoint, RK4)}
"""Method name -> solver class: each has ``name``, ``order`` and ``summary``.
Its keys are ``odelayers.METHODS``, the names ``SolverOptions`` accepts."""
