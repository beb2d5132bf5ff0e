"""Shared machinery of the benchmark scripts: threads, interleaved timing, provenance, output.

Every benchmark compares two or more implementations *in one process, in one run*:
repetitions of each are interleaved (A B B A A B ...), so that load from other
processes on a shared machine hits all of them alike, and the figure reported is the
ratio of medians taken after warm-up. Absolute times are written too, but only the
ratios are meant to be compared across runs.

Thread settings must be applied before TensorFlow or PyTorch run their first op,
so scripts call :func:`configure_threads` right after parsing their arguments.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "results" / "benchmarks"

# The scripts run as `python benchmarks/<script>.py` from a checkout that may not be
# pip-installed: make `odelayers` and `reproduce` importable either way.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def add_common_arguments(parser) -> None:
    """Add the options every benchmark shares (threads, repetitions, output folder)."""
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="intra-op threads for both TensorFlow and PyTorch (default 1: robust "
        "on a shared machine, see benchmarks/README.md; use 2+ on an idle one)",
    )
    parser.add_argument(
        "--inter-op-threads",
        type=int,
        default=1,
        help="inter-op threads for both frameworks (default 1)",
    )
    parser.add_argument(
        "--reps",
        type=int,
        default=None,
        help="timed repetitions per implementation (default: per script)",
    )
    parser.add_argument(
        "--warmup", type=int, default=1, help="untimed warm-up calls per implementation (default 1)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS_DIR,
        help=f"folder for the JSON/markdown/PNG outputs (default {RESULTS_DIR})",
    )


def quiet_tensorflow() -> None:
    """Import TensorFlow quietly (the project's own helper), forcing the TF Keras backend."""
    from reproduce._quiet import quiet_tensorflow as _quiet

    _quiet()


def configure_threads(intra: int, inter: int, frameworks=("tensorflow", "torch")) -> dict:
    """Apply the same intra-/inter-op thread counts to TensorFlow and PyTorch.

    Must run before either framework executes an op (TensorFlow refuses later
    changes). Returns the settings actually in force, for the provenance record.
    """
    os.environ.setdefault("OMP_NUM_THREADS", str(intra))
    applied = {"intra_op": intra, "inter_op": inter}
    if "tensorflow" in frameworks:
        quiet_tensorflow()
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
        applied["tensorflow"] = {
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
        }
    if "torch" in frameworks:
        try:
            import torch
        except ImportError:
            pass
        else:
            torch.set_num_threads(intra)
            try:
                torch.set_num_interop_threads(inter)
            except RuntimeError:  # already set once in this process
                pass
            applied["torch"] = {
                "intra_op": torch.get_num_threads(),
                "inter_op": torch.get_num_interop_threads(),
            }
    return applied


def interleaved(
    candidates: dict[str, Callable[[], object]],
    reps: int,
    warmup: int = 1,
    on_result: Callable[[str, object], None] | None = None,
) -> dict[str, list[float]]:
    """Time each candidate ``reps`` times, interleaving them, after ``warmup`` untimed calls.

    The order alternates between forward and reverse on every round (A B C, C B A, ...)
    so that neither candidate systematically runs right after the other's cache
    pollution or under a load trend. ``on_result(name, value)`` sees each call's return
    value (e.g. to collect NFE). Returns wall-clock seconds per call, per candidate.
    """
    names = list(candidates)
    for _ in range(warmup):
        for name in names:
            candidates[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(reps):
        order = names if rep % 2 == 0 else names[::-1]
        for name in order:
            start = time.perf_counter()
            value = candidates[name]()
            times[name].append(time.perf_counter() - start)
            if on_result is not None:
                on_result(name, value)
    return times


def summarize(samples: list[float]) -> dict:
    """Median, min, max and interquartile range of a list of timings (seconds)."""
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=4) if len(ordered) >= 2 else [ordered[0]] * 3
    return {
        "median_s": statistics.median(ordered),
        "min_s": ordered[0],
        "max_s": ordered[-1],
        "q1_s": q[0],
        "q3_s": q[2],
        "n": len(ordered),
    }


def ratio(times: dict[str, list[float]], ours: str, theirs: str) -> float:
    """Ratio of medians ``ours / theirs``."""
    return statistics.median(times[ours]) / statistics.median(times[theirs])


def paired_ratio(times: dict[str, list[float]], ours: str, theirs: str) -> dict:
    """Median and spread of per-round ratios (each round ran both back to back).

    Per-round ratios cancel load that changes slowly over the run; their quartiles
    say how stable the comparison was.
    """
    per_round = [a / b for a, b in zip(times[ours], times[theirs])]
    s = summarize(per_round)
    return {"median": s["median_s"], "q1": s["q1_s"], "q3": s["q3_s"], "n": s["n"]}


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        )
        # Uncommitted code, not results/ (written by the benchmarks themselves).
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", ".", ":(exclude)results"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions() -> dict:
    """Versions of the interpreter and every library a benchmark may touch (None if absent)."""
    found = {"python": platform.python_version()}
    quiet_tensorflow()
    for module in (
        "tensorflow",
        "keras",
        "tensorflow_probability",
        "numpy",
        "torch",
        "torchdiffeq",
    ):
        try:
            mod = __import__(module)
            found[module] = getattr(mod, "__version__", "unknown")
        except Exception:  # noqa: BLE001 - a missing peer is recorded, not fatal
            found[module] = None
    return found


def machine() -> dict:
    """What ran the benchmark: CPU model, core count, memory, and the load around it."""
    info = {"platform": platform.platform(), "cpu": _cpu_model(), "logical_cpus": os.cpu_count()}
    try:
        info["memory_gib"] = round(
            os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1
        )
    except (ValueError, OSError, AttributeError):
        pass
    return info


def load_average() -> list[float] | None:
    """1/5/15-minute load averages (other people's work on a shared machine)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


class Record:
    """Collects a benchmark's provenance and figures, and writes them as JSON and markdown."""

    def __init__(self, name: str, args, threads: dict):
        self.name = name
        self.started = time.time()
        self.data = {
            "benchmark": name,
            "command": " ".join(
                ["python"] + [os.path.relpath(sys.argv[0], REPO_ROOT)] + sys.argv[1:]
            ),
            "argv": sys.argv[1:],
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "git_commit": _git_commit(),
            "machine": machine(),
            "threads": threads,
            "load_average_start": load_average(),
        }
        self.out_dir = Path(args.out)

    def finish(self, results: dict, markdown_body: str) -> Path:
        """Write ``<out>/<name>.json`` and ``<name>.md``; return the JSON path."""
        self.data["versions"] = versions()
        self.data["load_average_end"] = load_average()
        self.data["wall_time_s"] = round(time.time() - self.started, 1)
        self.data["results"] = results
        self.out_dir.mkdir(parents=True, exist_ok=True)
        json_path = self.out_dir / f"{self.name}.json"
        json_path.write_text(json.dumps(self.data, indent=2, default=_json_default) + "\n")
        v = self.data["versions"]
        header = (
            f"# {self.name}\n\n"
            f"`{self.data['command']}` on {self.data['date']}, {self.data['machine']['cpu']} "
            f"({self.data['machine']['logical_cpus']} logical CPUs), threads intra/inter "
            f"{self.data['threads']['intra_op']}/{self.data['threads']['inter_op']}, load average "
            f"{self.data['load_average_start']} -> {self.data['load_average_end']}; "
            f"TensorFlow {v.get('tensorflow')}, Keras {v.get('keras')}, TFP "
            f"{v.get('tensorflow_probability')}, PyTorch {v.get('torch')}, torchdiffeq "
            f"{v.get('torchdiffeq')}; commit {self.data['git_commit']}.\n\n"
        )
        (self.out_dir / f"{self.name}.md").write_text(header + markdown_body.rstrip() + "\n")
        return json_path


def _json_default(obj):
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:
        pass
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj)}")


def load_thread_runs(results_dir, stem: str) -> dict[int, dict[str, dict]]:
    """``{threads: {run label: record}}`` from the ``<stem>_t<threads>_<label>.json`` files."""
    pattern = re.compile(rf"{re.escape(stem)}_t(\d+)_(\w+)\.json")
    runs: dict[int, dict[str, dict]] = {}
    for path in sorted(Path(results_dir).glob(f"{stem}_t*_*.json")):
        match = pattern.fullmatch(path.name)
        if match:
            runs.setdefault(int(match[1]), {})[match[2]] = json.loads(path.read_text())
    return runs


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A GitHub markdown table (floats shown with 3 significant digits)."""

    def cell(x):
        if isinstance(x, float):
            return f"{x:.3g}"
        return "" if x is None else str(x)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


def goal_mark(value: float | None, goal: float) -> str:
    """'met' / 'missed' for a ratio against an upper-bound goal."""
    if value is None:
        return "n/a"
    return "met" if value <= goal else "missed"


def paired_ratio_spread(times: dict[str, list[float]], ours: str, theirs: str) -> dict:
    """:func:`paired_ratio` plus the smallest and largest per-round ratio."""
    per_round = [a / b for a, b in zip(times[ours], times[theirs])]
    out = paired_ratio(times, ours, theirs)
    out.update({"min": min(per_round), "max": max(per_round)})
    return out


def warm(candidates: dict[str, Callable[[], object]], calls: int, names=None) -> None:
    """Call each candidate (or those in ``names``) ``calls`` times, untimed."""
    for _ in range(calls):
        for name in names if names is not None else candidates:
            candidates[name]()
