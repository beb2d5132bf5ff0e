"""What a result needs to be rerun: command, git commit, versions, machine, date. Nothing here
raises: a detail that cannot be found is ``None``, as it must not cost a finished run."""

import contextlib
import datetime as _dt
import os
import platform
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parent.parent
# Key in the versions dict -> distribution names to try, in order.
_DISTRIBUTIONS = {
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly"),
    "keras": ("keras", "keras-nightly"),
    "tensorflow_probability": ("tensorflow-probability", "tfp-nightly"),
    "numpy": ("numpy",),
    "pandas": ("pandas",),
}


def versions(extra: tuple[str, ...] = ()) -> dict[str, str | None]:
    """Python's version and each package's (``None`` when not installed), without importing them;
    ``extra`` names more distributions (a benchmark's peers: ``"torch"``, ``"diffrax"``)."""
    from reproduce import __version__

    found: dict[str, str | None] = {"python": platform.python_version()}
    for key, names in {**_DISTRIBUTIONS, **{name: (name,) for name in extra}}.items():
        found[key] = next(filter(None, map(_installed, names)), None)
    found["reproduce"] = found["odelayers"] = __version__  # one distribution, one version
    return found


def _installed(distribution: str) -> str | None:
    with contextlib.suppress(metadata.PackageNotFoundError):
        return metadata.version(distribution)
    return None


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_commit(path: str | os.PathLike | None = None) -> str | None:
    """The code's (or ``path``'s) commit, ``-dirty`` if tracked files outside results/ changed."""
    cwd = Path(path) if path is not None else _REPO_ROOT
    commit = _git(cwd, "rev-parse", "HEAD")
    if not commit:
        return None
    # results/ holds what the code wrote, not the code.
    changed = _git(cwd, "status", "--porcelain", "-uno", "--", ":(top,exclude)results")
    return f"{commit}-dirty" if changed else commit


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def hardware() -> str:
    """``"<CPU model>, <n> cores; no GPU"`` (or the GPUs TensorFlow sees, when it is loaded)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 0
    gpus = []
    if (tf := sys.modules.get("tensorflow")) is not None:  # importing it would cost seconds
        with contextlib.suppress(Exception):  # a broken CUDA set-up must not cost the run
            gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return f"{_cpu_model()}, {cores} cores; " + ("GPU: " + ", ".join(gpus) if gpus else "no GPU")


def utc_now() -> str:
    """Now, as ISO 8601 in UTC to the second: ``2025-03-01T12:00:00Z``."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def command_line(args: list[str] | None = None) -> str:
    """The shell-quoted command that reruns this process (``args``: those after ``-m reproduce``)."""
    if args is not None:
        return shlex.join(["python", "-m", "reproduce", *map(str, args)])
    program, *rest = list(sys.argv) or ["python"]
    path = Path(program)
    if path.name in ("reproduce", "reproduce.exe") or path.parts[-2:] == (
        "reproduce",
        "__main__.py",
    ):
        return shlex.join(["python", "-m", "reproduce", *rest])
    if program in ("-c", ""):
        return shlex.join(["python", "-c", "...", *rest])
    return shlex.join(["python", program, *rest])


def record(command: str | None = None, extra_versions: tuple[str, ...] = ()) -> dict:
    """Everything above in one dict, as every result file stores it."""
    return {"command": command or command_line(), "git_commit": git_commit(), "date": utc_now(),
            "hardware": hardware(), "versions": versions(extra_versions)}  # fmt: skip
