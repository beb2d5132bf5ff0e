"""What a result needs to be rerun: versions, git commit, hardware, date, command.

Everything here is cheap and never fails: a piece of information that cannot
be found is ``None`` (or a short "unknown" string) rather than an exception,
because a missing detail must not cost a finished training run.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
import subprocess
import sys
from importlib import metadata as _metadata
from pathlib import Path

__all__ = [
    "command_line",
    "git_commit",
    "hardware",
    "utc_now",
    "versions",
]

# Key in the versions dict -> (import name, distribution names to try).
_PACKAGES = {
    "tensorflow": (
        "tensorflow",
        ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly"),
    ),
    "keras": ("keras", ("keras", "keras-nightly")),
    "tensorflow_probability": ("tensorflow_probability", ("tensorflow-probability", "tfp-nightly")),
    "numpy": ("numpy", ("numpy",)),
    "pandas": ("pandas", ("pandas",)),
}

_REPO_ROOT = Path(__file__).resolve().parent.parent


def _package_version(import_name: str, distributions: tuple[str, ...]) -> str | None:
    # An already imported module knows its version for sure; otherwise ask the
    # installed metadata, which does not import (TensorFlow takes seconds).
    module = sys.modules.get(import_name)
    version = getattr(module, "__version__", None)
    if version:
        return str(version)
    for distribution in distributions:
        try:
            return _metadata.version(distribution)
        except _metadata.PackageNotFoundError:
            continue
    return None


def versions() -> dict[str, str | None]:
    """Versions of Python and of the packages a result depends on.

    Returns:
        ``{"python", "tensorflow", "keras", "tensorflow_probability", "numpy",
        "pandas", "reproduce"}`` -> version string, or ``None`` for a package
        that is not installed.
    """
    from reproduce import __version__

    found: dict[str, str | None] = {"python": platform.python_version()}
    for key, (import_name, distributions) in _PACKAGES.items():
        found[key] = _package_version(import_name, distributions)
    found["reproduce"] = __version__
    return found


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_commit(path: str | os.PathLike | None = None) -> str | None:
    """Commit hash of the source tree, with ``-dirty`` if tracked files changed.

    Args:
        path: a directory inside the repository; defaults to the one holding
            this package (the code that produced the result).

    Returns:
        The full hash, ``"<hash>-dirty"`` when tracked files differ from the
        commit (untracked files, and anything under ``results/``, the outputs,
        do not count), or
        ``None`` outside a git repository or without git.
    """
    cwd = Path(path) if path is not None else _REPO_ROOT
    commit = _git(["rev-parse", "HEAD"], cwd)
    if not commit:
        return None
    # The results folder holds what the code wrote, not the code: a regenerated
    # figure or run there does not make the code that wrote it "dirty".
    changes = _git(
        ["status", "--porcelain", "--untracked-files=no", "--", ":(top,exclude)results"], cwd
    )
    return f"{commit}-dirty" if changes else commit


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        name = subprocess.run(
            ["sysctl", "-n", "machdep.cpu.brand_string"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if name:
            return name
    return platform.processor() or platform.machine() or "unknown CPU"


def _gpu_names() -> list[str]:
    # Only ask TensorFlow when it is already loaded: importing it costs seconds.
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return []
    names = []
    try:
        for device in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(device)
            names.append(details.get("device_name") or device.name)
    except Exception:  # a broken CUDA set-up must not cost the run
        return names
    return names


def hardware() -> str:
    """One line naming the machine: CPU model and core count, and GPUs TensorFlow sees.

    Example: ``"Intel(R) Xeon(R) Platinum 8480+, 16 cores; GPU: NVIDIA H100 80GB HBM3"``
    or ``"AMD EPYC 7B13, 2 cores; no GPU"``. "Cores" is what the process may use
    (``os.sched_getaffinity`` where available, else ``os.cpu_count()``).
    GPUs are listed only when TensorFlow is already imported.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 0
    gpus = _gpu_names()
    gpu_text = "GPU: " + ", ".join(gpus) if gpus else "no GPU"
    return f"{_cpu_model()}, {cores} cores; {gpu_text}"


def utc_now() -> str:
    """The current time as ISO 8601 in UTC, to the second: ``2025-03-01T12:00:00Z``."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _launched_as_reproduce(program: str) -> bool:
    path = Path(program)
    if path.name == "__main__.py" and path.parent.name == "reproduce":
        return True  # python -m reproduce
    return path.name in ("reproduce", "reproduce.exe")  # the console script


def command_line(args: list[str] | None = None) -> str:
    """The command that reruns this process, shell-quoted so it can be pasted.

    Args:
        args: the arguments after ``python -m reproduce`` (what ``cli.main``
            parses). When ``None``, they are taken from ``sys.argv``: a process
            started as ``python -m reproduce ...`` or through the ``reproduce``
            script gives ``python -m reproduce ...``; any other program gives
            ``python <program> ...``.

    Returns:
        For example ``"python -m reproduce dense --epochs 150 --out 'my results'"``.
    """
    if args is not None:
        return shlex.join(["python", "-m", "reproduce", *map(str, args)])
    argv = list(sys.argv) or ["python"]
    if _launched_as_reproduce(argv[0]):
        return shlex.join(["python", "-m", "reproduce", *argv[1:]])
    if argv[0] in ("-c", ""):
        return shlex.join(["python", "-c", "...", *argv[1:]])
    return shlex.join(["python", *argv])
