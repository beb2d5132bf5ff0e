"""The benchmarks' shared timing statistics (``benchmarks/_common.py``)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
C = pytest.importorskip("_common")


def test_interleave_alternates_the_order_and_warms_up():
    calls = []
    times = C.interleave({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 3, 1)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]
    assert [len(t) for t in times.values()] == [3, 3]


def test_spread_and_per_round_ratio():
    s = C.spread([4.0, 1.0, 3.0, 2.0])
    assert (s["median"], s["min"], s["max"], s["n"]) == (2.5, 1.0, 4.0, 4)
    assert s["q1"] <= s["median"] <= s["q3"]
    r = C.ratio({"ours": [1.0, 2.0, 6.0], "theirs": [2.0, 2.0, 3.0]}, "ours", "theirs")
    assert (r["median"], r["min"], r["max"]) == (1.0, 0.5, 2.0)


@pytest.mark.slow  # imports TensorFlow, PyTorch and JAX
def test_every_side_evaluates_the_same_dynamics_with_the_same_weights():
    """Keras (and JAX where diffrax is installed) against PyTorch: one evaluation; the CDE field."""
    pytest.importorskip("torchdiffeq")
    odeint = pytest.importorskip("bench_odeint")
    p = odeint.Problem(batch=2)
    assert p.check() < 1e-5
    if odeint.diffrax:  # the JAX weights are Keras' variables, not a second copy from PyTorch
        assert all((a == b.numpy()).all() for a, b in zip(p.w_jax, p.dyn.trainable_variables))
    pytest.importorskip("torchcde")
    assert pytest.importorskip("bench_cde").Problem(batch=2, length=8).check() < 1e-5
