"""ODE blocks under tf.distribute.MirroredStrategy on two logical CPU devices.

Logical devices must be configured before TensorFlow initialises, so the
training runs in a fresh Python process that prints its measurements as JSON.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = r"""
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
os.environ["KERAS_BACKEND"] = "tensorflow"
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, numpy as np, odelayers

CASES = {
    "dopri5-adjoint-t1": dict(rtol=1e-5, atol=1e-8, trainable_t1=True),
    "dopri5-backprop": dict(rtol=1e-5, atol=1e-8, gradient="backprop"),
    "rk4-backprop": dict(method="rk4", step_size=0.25, gradient="backprop"),
}

def make(**kwargs):
    keras.utils.set_random_seed(0)
    block = odelayers.ODEBlock(odelayers.ConcatDense(4, activation="tanh"), **kwargs)
    model = keras.Sequential([keras.Input((4,)), block, keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    return model, block

def max_difference(a, b):
    return max(float(np.abs(u - v).max()) for u, v in zip(a, b))

rng = np.random.default_rng(0)
# The replicas get the two halves of the batch: states of size 1, then of
# size 1e-3, which dopri5 integrates in more steps (32 and 38 evaluations),
# so the first replica's count differs from the largest.
x = np.concatenate([rng.normal(size=(8, 4)), 1e-3 * rng.normal(size=(8, 4))])
x = x.astype("float32")
y = rng.normal(size=(16, 1)).astype("float32")
kwargs = CASES[sys.argv[1]]
single, block = make(**kwargs)
start = single.get_weights()
halves = []
for half in (x[:8], x[8:]):
    block(half)
    halves.append(block.nfe)
one = single.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0).history
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    mirrored, mirrored_block = make(**kwargs)
mirrored.set_weights(start)
two = mirrored.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0).history
print(json.dumps({
    "replicas": strategy.num_replicas_in_sync,
    "weight_difference": max_difference(single.get_weights(), mirrored.get_weights()),
    "weight_change": max_difference(single.get_weights(), start),
    "nfe_halves": halves,
    "nfe_logged": two["nfe"][-1],
    "nfe_property": mirrored_block.nfe,
    "t1_logged": [one.get("t1", [None])[-1], two.get("t1", [None])[-1]],
    "t1_after": [block.current_t1, mirrored_block.current_t1],
    "loss": [one["loss"][-1], two["loss"][-1]],
}))
"""


def run_case(case):
    root = Path(__file__).resolve().parent.parent
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, case],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "case, tolerance",
    [
        # Fixed steps: the replicas compute exactly what one device computes
        # on their halves; what remains is float32 summation order.
        ("rk4-backprop", 1e-6),
        # Adaptive steps: each replica's step sizes follow the error of its own
        # half, the single device's that of the whole batch, so the solutions
        # agree to the tolerance (rtol 1e-5), not bit for bit. Measured:
        # 1.8e-7 (adjoint) and 1.3e-7 (backprop) for a largest weight change
        # of 0.078; rk4: 6e-8.
        ("dopri5-adjoint-t1", 1e-5),
        # slow: among the slowest; dopri5 with the adjoint keeps the adaptive case in the default run
        pytest.param("dopri5-backprop", 1e-5, marks=pytest.mark.slow),
    ],
)
def test_mirrored_step_equals_a_single_device_step(case, tolerance):
    measured = run_case(case)
    assert measured["replicas"] == 2
    assert measured["weight_change"] > 0.01  # the step did something
    assert measured["weight_difference"] < tolerance
    assert measured["loss"][1] == pytest.approx(measured["loss"][0], rel=1e-5)
    # The NFE is the largest of the replicas' (the step waits for the slowest),
    # neither their sum nor the first replica's.
    assert measured["nfe_logged"] == measured["nfe_property"] == max(measured["nfe_halves"])
    if case.startswith("dopri5"):
        assert measured["nfe_halves"][0] < measured["nfe_halves"][1]
    if case.endswith("t1"):
        # Every replica holds the same t1: reported once, and trained like one device's.
        assert measured["t1_logged"][1] == pytest.approx(measured["t1_logged"][0], abs=1e-7)
        assert measured["t1_after"][1] == pytest.approx(measured["t1_after"][0], abs=1e-5)
        assert measured["t1_after"][0] != pytest.approx(1.0, abs=1e-4)
