"""Neural CDEs: ``cdeint``, ``fill_missing`` and ``CDEBlock`` against references we did not write.

With one channel and a linear field the CDE ``dz = A z dX`` has the solution
``expm(A (X_T - X_0)) z0`` whatever the path between; the paths' derivatives are
rebuilt from SciPy (``CubicSpline``, ``np.interp``) or from the definition, and
``solve_ivp`` integrates the equivalent ODE.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.interpolate  # noqa: E402
import scipy.linalg  # noqa: E402
import tensorflow as tf  # noqa: E402

import odelayers  # noqa: E402

KINDS = ("linear", "hermite", "natural")
TIGHT = dict(rtol=1e-10, atol=1e-12)
RNG = np.random.default_rng(0)
T = np.array([0.0, 0.3, 1.1, 1.5, 2.7])  # irregular observation times
X = RNG.normal(size=(2, 5, 2))
Z0 = RNG.normal(size=(2, 3))
A = 0.5 * RNG.normal(size=(3, 3))
W = 0.4 * RNG.normal(size=(3, 3, 2))  # the field f(z) = tanh(W z): [H, H, C]


def linear_field(t, z):
    return tf.einsum("ij,bj->bi", tf.constant(A), z)[..., None]


def expm_solution(x):
    return np.stack([scipy.linalg.expm(A * (b[-1, 0] - b[0, 0])) @ z for b, z in zip(x, Z0)])


@pytest.mark.parametrize("kind", KINDS)
def test_one_channel_linear_field_is_expm_of_the_increment(kind):
    x = X[..., :1]
    z = odelayers.cdeint(linear_field, tf.constant(Z0), T, x, kind, **TIGHT)
    np.testing.assert_allclose(z.numpy(), expm_solution(x), rtol=1e-6, atol=1e-7)
