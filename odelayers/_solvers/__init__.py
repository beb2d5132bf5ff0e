"""The solvers, and the one table of methods.

A method is one ``tfp.math.ode.Solver`` class with ``name``, ``order``, ``summary``, ``adaptive``,
``gradients`` (the gradient modes it supports), ``jit_gradients`` (those under which XLA compiles
it), ``step_bounds`` (takes ``min_step``/``max_step``), ``eager_trace`` (eager solves run in a
``tf.function``), ``uncounted_evaluations`` (evaluations its diagnostics leave out) and
``from_options(options, span)``, plus one entry below.
"""

from odelayers._solvers.bdf import BDF
from odelayers._solvers.dormand_prince import DormandPrince
from odelayers._solvers.fixed_grid import RK4, Euler, Midpoint

SOLVERS = {cls.name: cls for cls in (DormandPrince, BDF, Euler, Midpoint, RK4)}
"""Method name -> solver class; the first is the default."""
