"""What every benchmark script repeats: options, pinned threads, interleaved timing (A B, B A, ...:
load from other processes hits all alike), per-round ratios and their spread, tables, result file."""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python benchmarks/<script>.py` from a checkout not installed

from reproduce import provenance  # noqa: E402
from reproduce._quiet import quiet_tensorflow  # noqa: E402
from reproduce.atomic import atomic_write_json  # noqa: E402

quiet_tensorflow()  # before anything imports TensorFlow
import tensorflow as tf  # noqa: E402


def arguments(doc: str, repeats: int | None, threads=(1,), options=None) -> argparse.Namespace:
    """The shared options and a script's own (``{"--prune": dict(type=float)}``), parsed."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--threads", type=int, nargs="+", default=list(threads), help="intra-op")
    p.add_argument("--runs", type=int, default=1, help="separate processes per thread count")
    p.add_argument("--repeats", type=int, default=repeats, help="timed rounds (--tiny: 2)")
    p.add_argument("--tiny", action="store_true", help="a smoke run at a tiny size")
    p.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks")
    for flag, settings in (options or {}).items():
        p.add_argument(flag, **settings)
    return p.parse_args()


def pin_threads(n: int, peers=("torch",)) -> dict:
    """``n`` cores (``taskset``'s way), intra-op threads (TensorFlow, PyTorch) and XLA pool threads
    (sized by ``NPROC`` and the cores), one inter-op thread; checked."""
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:n])
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NPROC"):
        os.environ[var] = str(n)  # read when PyTorch, NumPy's BLAS and XLA load
    threading = tf.config.threading
    threading.set_intra_op_parallelism_threads(n)
    threading.set_inter_op_parallelism_threads(1)
    got = {"cores": [len(os.sched_getaffinity(0)), 1]}
    got["tensorflow"] = [threading.get_intra_op_parallelism_threads()]
    got["tensorflow"].append(threading.get_inter_op_parallelism_threads())
    if "torch" in peers:
        import torch

        torch.set_num_threads(n)
        torch.set_num_interop_threads(1)
        got["torch"] = [torch.get_num_threads(), torch.get_num_interop_threads()]
    if "jax" in peers:  # its pool's threads, counted once a computation has started it
        import jax

        jax.jit(lambda x: x @ x)(jax.numpy.ones((64, 64))).block_until_ready()
        names = [(task / "comm").read_text().strip() for task in Path("/proc/self/task").iterdir()]
        got["jax"] = [sum(name.endswith("XLAEigen") for name in names), 1]
    if any(v != [n, 1] for v in got.values()):
        raise SystemExit(f"thread settings did not take effect: {got} (intra, inter)")
    return got


def run(args, name: str, measure, peers=("torch", "torchdiffeq")) -> dict:
    """``measure(args)`` per thread count and run, written to ``<out>/<name>.json``; each in a
    fresh process when there are several (TensorFlow fixes its thread pools at its first op)."""
    args.repeats, child = 2 if args.tiny else args.repeats, os.environ.get("BENCH_CHILD")
    plain = lambda o: o.tolist() if hasattr(o, "tolist") else str(o)  # noqa: E731 - NumPy, paths
    jobs, runs = [t for t in args.threads for _ in range(args.runs)], []
    for threads in [int(child.split(",")[0])] if child else jobs:
        if len(jobs) > 1 and not child:
            with tempfile.TemporaryDirectory() as tmp:
                env = {**os.environ, "BENCH_CHILD": f"{threads},{tmp}/run.json"}
                subprocess.run([sys.executable, *sys.argv], env=env, check=True)
                runs.append(json.loads(Path(tmp, "run.json").read_text()))
            continue
        args.threads, pinned, load = threads, pin_threads(threads, peers), os.getloadavg()
        start, result = time.perf_counter(), measure(args)
        wall, load = time.perf_counter() - start, [load, os.getloadavg()]
        runs.append({"threads": pinned, "load_average": load, "wall_s": wall, **result})
    if child:  # one run, for the parent process
        Path(child.split(",", 1)[1]).write_text(json.dumps(runs[0], default=plain))
        sys.exit(0)
    record = {"benchmark": name, **provenance.record(extra_versions=peers), "options": vars(args)}
    record = json.loads(json.dumps(record | {"runs": runs}, default=plain))
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"wrote {atomic_write_json(args.out / f'{name}.json', record)}")
    return record


def interleave(candidates: dict, repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per call of each candidate, over ``repeats`` rounds in alternating order."""
    for call in list(candidates.values()) * warmup:
        call()
    names, times = list(candidates), {name: [] for name in candidates}
    for i in range(repeats):
        for name in names if i % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            candidates[name]()
            times[name].append(time.perf_counter() - start)
    return times


def timed(rows: dict, calls: dict, repeats: int, warmup=0, base=None) -> dict[str, list[float]]:
    """:func:`interleave` ``calls``, adding each one's :func:`spread` (and :func:`ratio` to
    ``base``'s) to its row in ``rows``."""
    times = interleave(calls, repeats, warmup)
    for name, samples in times.items():
        rows.setdefault(name, {}).update(spread(samples))
        rows[name] |= {"ratio_to_first": ratio(times, name, base)} if base else {}
    return times


def spread(samples) -> dict:
    """Median, quartiles and range."""
    s = sorted(samples)
    q = statistics.quantiles(s, n=4) if len(s) > 1 else [s[0]] * 3
    return dict(median=statistics.median(s), q1=q[0], q3=q[2], min=s[0], max=s[-1], n=len(s))


def ratio(times: dict, ours: str, theirs: str) -> dict:
    """:func:`spread` of the per-round ratios ``ours / theirs``."""
    return spread([a / b for a, b in zip(times[ours], times[theirs])])


def table(header: list, rows: list) -> None:
    """Print a markdown table: floats (and a spread's median) to 3 significant digits, another
    dict as its values to 2."""

    def cell(x) -> str:
        if isinstance(x, dict) and "median" in x:  # a spread
            return f"{x['median']:.3g}"
        if isinstance(x, dict):
            return ", ".join(f"{v:.2g}" for v in x.values())
        return f"{x:.3g}" if isinstance(x, float) else "" if x is None else str(x)

    lines = [header, ["---"] * len(header), *([cell(x) for x in row] for row in rows)]
    print("\n".join("| " + " | ".join(line) + " |" for line in lines) + "\n", flush=True)


def rows_table(title: str, rows: dict, keys=("median", "q1", "q3", "min", "max")) -> None:
    """:func:`table` of named rows (dicts, such as :func:`ratio`'s), one column per key."""
    table([title, *keys], [[name, *(row.get(k) for k in keys)] for name, row in rows.items()])


def peak_mib(call) -> float:
    """TensorFlow's CPU allocator peak during ``call()``, above what was held before (MiB)."""
    tf.config.experimental.reset_memory_stats("CPU:0")
    before = tf.config.experimental.get_memory_info("CPU:0")["current"]
    call()
    return (tf.config.experimental.get_memory_info("CPU:0")["peak"] - before) / 2**20


def tuning(**values):
    """odelayers' private loop settings (``PARALLEL_ITERATIONS=10``...) for the solves traced inside."""
    import odelayers

    odelayers.ODEBlock  # noqa: B018 - loads the solvers, which load the settings they read
    return mock.patch.multiple(sys.modules["odelayers._tuning"], **values)
