"""Loop settings of the solvers, read when a solve is traced (private: for benchmarks).

Set them before tracing, e.g. ``odelayers._tuning.PARALLEL_ITERATIONS = 10``.
"""

# parallel_iterations of dopri5's loops. TensorFlow's default of 10 lets later steps start
# early and keep their state-sized buffers alive: more peak memory for no speed.
PARALLEL_ITERATIONS = 1

# dopri5 computes the interpolation coefficients only for the step that crosses an output
# time (True), not after every trial step as TFP does (False): same results, fewer passes.
LAZY_DENSE_OUTPUT = True

# dopri5's stage sums over states with at least this many elements per batch example run
# as one XLA-fused loop inside graphs; below it the fused call's fixed cost dominates.
FUSE_MIN_ELEMENTS = 4096

# A fixed-step interval of at most this many steps (known while tracing) is unrolled; longer
# ones run in a tf.while_loop, whose tracing time does not grow with the steps, and so do many
# short intervals whose steps add up to more (one loop over all of them).
UNROLL_MAX_STEPS = 8
