"""Floating-point work of a training step, and the machine's fp32 ceilings to set it against.

* :func:`keras_training_flops` counts a Keras model's convolutions and dense layers
  from their shapes: forward ``2 * H_out * W_out * k_h * k_w * C_in * C_out`` per image
  for a convolution (``2 * in * out`` for a dense layer); backward the same again for
  the weight gradient, and again for the input gradient *when one is needed* (some
  trainable layer lies upstream: in the report's CNN the input batch norm has a scale
  and an offset, so even the first convolution needs its input gradient). Batch norm,
  activations, pooling, dropout, bias adds and the optimizer are left out (a few
  percent at most, see :func:`keras_training_flops`' ``excluded_estimate``).
* :func:`torch_counted_flops` asks PyTorch's own ``FlopCounterMode`` (which counts
  the same matmul/convolution work, forward and backward) for the check.
* :func:`theoretical_peaks` is cores x SIMD fp32 lanes x FMA units x 2 x clock, for
  AVX-512 and AVX2; :func:`matmul_ceiling` measures what a large fp32 matmul reaches
  (PyTorch's and NumPy's BLAS), the ceiling a convolution could hope for in practice.
"""

from __future__ import annotations

import math
import time
from pathlib import Path


def _shape(t) -> tuple:
    return tuple(int(d) for d in t.shape[1:])


def keras_training_flops(model, batch: int) -> dict:
    """Forward and backward FLOPs of one training batch of ``model``, counted per layer.

    Walks the functional model's layers in order and tracks which tensors depend on a
    trainable weight, so that a layer whose input does not (e.g. a convolution fed
    straight from the ``Input``) gets no input-gradient term.
    """
    import keras

    needs_grad: set[int] = set()
    rows, fwd, bwd, elementwise = [], 0, 0, 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        inputs = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
        upstream = any(id(t) in needs_grad for t in inputs)
        if upstream or layer.trainable_weights:
            needs_grad.add(id(layer.output))
        out_shape = _shape(layer.output)
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = (int(d) for d in layer.kernel.shape)
            h, w = out_shape[0], out_shape[1]
            f = 2 * h * w * kh * kw * cin * cout * batch
        elif isinstance(layer, keras.layers.Dense):
            cin, cout = (int(d) for d in layer.kernel.shape)
            f = 2 * cin * cout * batch
        else:
            elementwise += math.prod(out_shape) * batch
            continue
        b = f * (2 if upstream else 1)  # weight gradient, plus input gradient if needed
        rows.append({"layer": layer.name, "forward": f, "backward": b, "input_grad": upstream})
        fwd, bwd = fwd + f, bwd + b
    return {
        "forward": fwd,
        "backward": bwd,
        "total": fwd + bwd,
        "layers": rows,
        # Batch norm, ELU, pooling, dropout and adds touch each of their outputs a few
        # times forward and backward: ~10 FLOPs per element is a generous bound.
        "excluded_estimate": 10 * elementwise,
    }


def torch_counted_flops(model, step, x, y) -> dict:
    """PyTorch's ``FlopCounterMode`` on one forward pass, and on one whole training step."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fwd:
        model(x)
    with FlopCounterMode(display=False) as full:
        step(x, y)
    f, t = fwd.get_total_flops(), full.get_total_flops()
    return {"forward": f, "backward": t - f, "total": t}


def clock_ghz() -> tuple[float, str]:
    """The assumed core clock: BogoMIPS / 2 (the TSC rate under KVM), else 'cpu MHz'."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return 2.6, "assumed 2.6 GHz (no /proc/cpuinfo)"
    for key, scale, how in (("bogomips", 2000.0, "BogoMIPS / 2"), ("cpu MHz", 1000.0, "cpu MHz")):
        for line in text.splitlines():
            if line.lower().startswith(key.lower()):
                return float(line.split(":", 1)[1]) / scale, how
    return 2.6, "assumed 2.6 GHz"


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def theoretical_peaks(cores: int, ghz: float, fma_units: int = 2) -> dict:
    """fp32 FLOP/s: cores x lanes (16 AVX-512, 8 AVX2) x FMA units x 2 (multiply + add) x clock."""
    return {
        "avx512": cores * 16 * fma_units * 2 * ghz * 1e9,
        "avx2": cores * 8 * fma_units * 2 * ghz * 1e9,
        "assumptions": f"{cores} core(s), {fma_units} FMA units per core, {ghz:.2f} GHz",
    }


def matmul_ceiling(n: int = 4096, repeats: int = 3) -> dict:
    """Best-of-``repeats`` GFLOP/s of an ``n x n`` fp32 matmul in PyTorch and in NumPy.

    PyTorch runs on ``torch.get_num_threads()`` threads; NumPy's BLAS on what
    ``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS`` gave it when it loaded.
    """
    import numpy as np
    import torch

    flops = 2.0 * n**3
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    out = {"n": n}
    for name, fn in (("torch", lambda: torch.mm(ta, tb)), ("numpy", lambda: a @ b)):
        fn()  # warm-up: thread pool, packing buffers
        best = math.inf
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
        out[name] = flops / best
    return out
