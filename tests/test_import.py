"""``import odelayers`` alone, in a fresh process, gives a working library."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import math
import odelayers
missing = [name for name in odelayers.__all__ if getattr(odelayers, name, None) is None]
assert not missing, missing
assert isinstance(odelayers.__version__, str) and odelayers.__version__
import numpy as np
import tensorflow as tf
y = odelayers.odeint(lambda t, y: -y, tf.constant([1.0], tf.float64), [0.0, 1.0], rtol=1e-8)
assert abs(float(y[-1, 0]) - math.exp(-1.0)) < 1e-6, float(y[-1, 0])
import keras
block = odelayers.ODEBlock(keras.layers.Dense(3), method="rk4", num_steps=2)
out = block(np.ones((2, 3), "float32"))
assert tuple(out.shape) == (2, 3) and block.nfe == 8, (out.shape, block.nfe)
print("ok")
"""


def test_importing_odelayers_alone_gives_every_public_name_working():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "ok"
