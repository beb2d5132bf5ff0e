"""The wheel as a user installs it: built from this tree, installed into a fresh virtual
environment, imported there with nothing of this checkout on the path."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_wheel_installs_and_imports_in_a_fresh_virtual_environment(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing of this checkout

    def run(*command, **kwargs):
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=900, env=env, **kwargs
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        return done.stdout

    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(tmp_path))
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for required in ("LICENSE", "NOTICE", "LICENSES/Apache-2.0.txt"):
        assert any(n.endswith(f".dist-info/licenses/{required}") for n in names), required
    assert {"odelayers/py.typed", "reproduce/py.typed"} <= set(names)
    assert not any(n.startswith(("tests/", "benchmarks/", "results/")) for n in names)

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", str(venv))
    python = str(venv / "bin" / "python")
    run(python, "-m", "pip", "install", "-q", f"{wheel}[reproduce]")
    code = (
        "import sys, odelayers, tensorflow as tf\n"
        "assert 'site-packages' in odelayers.__file__, odelayers.__file__\n"
        "y = odelayers.odeint(lambda t, y: -y, tf.ones([1], tf.float64), [0.0, 1.0], rtol=1e-8,"
        " atol=1e-8)\n"
        "print(odelayers.__version__, float(y[-1, 0]))\n"
    )
    version, value = run(python, "-c", code, cwd=tmp_path).split()
    assert version != "0+unknown" and abs(float(value) - 0.36787944117144233) < 1e-6
    assert "usage:" in run(python, "-m", "reproduce", "--help", cwd=tmp_path)
