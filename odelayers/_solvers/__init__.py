"""The ODE solvers (TensorFlow Probability code; imported on first use).

* ``registry``: method name -> solver class (``SOLVERS``).
* ``fixed_grid``: the fixed-step methods Euler, midpoint, RK4 and their loop;
  ``tfp_adapter`` gives them TFP's ``Solver`` API and so its adjoint.
* ``dormand_prince``: adaptive Dormand-Prince 5(4) and its adjoint's solver,
  built from ``first_step`` (Hairer's first step), ``step_control`` (error
  measure, next step size) and ``stage_sums`` (XLA-fused stage sums).
* ``bdf``: TFP's BDF for stiff problems.
* ``nonfinite``: a fixed-step solve whose state became NaN/Inf fails, naming
  the step.
* ``messages``: failure messages (numbers filled in, eager and in graphs) and
  TensorFlow's log noise.

States may be nested structures of tensors: TFP's adjoint solves an augmented
system ``(state, adjoint, parameter adjoints, ...)`` with the same solver.
"""
