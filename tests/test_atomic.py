"""Atomic file replacement: a kill or an error at any moment leaves the old file or the new one."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reproduce import atomic
from reproduce.atomic import (
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)

ROOT = Path(__file__).resolve().parent.parent

# Rewrites one JSON file as fast as it can; each version is ~1 MB and carries
# the sha256 of its payload, so a reader can tell a complete file from a torn one.
WRITER = r"""
import hashlib, sys
from reproduce.atomic import atomic_write_json
path = sys.argv[1]
version = 0
while True:
    version += 1
    payload = [version] * (150_000 + 7 * version % 1000)
    digest = hashlib.sha256(repr(payload).encode()).hexdigest()
    atomic_write_json(path, {"version": version, "payload": payload, "sha256": digest}, indent=None)
    print(version, flush=True)
"""


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp-" in p.name)


def test_round_trip_and_no_temporary_left(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "héllo\n")
    atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    numbers = {"x": 0.1 + 0.2, "y": [1e-310, 2.5], "z": None}
    atomic_write_json(tmp_path / "c.json", numbers)
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "héllo\n"
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert json.loads((tmp_path / "c.json").read_text()) == numbers  # floats to the last digit
    atomic_write_text(tmp_path / "a.txt", "replaced")
    assert (tmp_path / "a.txt").read_text() == "replaced"
    assert _leftovers(tmp_path) == []


def test_temporary_name_keeps_the_compound_extension(tmp_path):
    seen = []
    with atomic_path(tmp_path / "epoch-0003.weights.h5") as tmp:
        seen.append(tmp)
        tmp.write_bytes(b"weights")
    assert seen[0].parent == tmp_path  # same directory: the rename cannot cross file systems
    assert seen[0].name.startswith(".") and seen[0].name.endswith(".weights.h5")
    assert (tmp_path / "epoch-0003.weights.h5").read_bytes() == b"weights"


def test_error_inside_the_block_keeps_the_old_file(tmp_path):
    target = tmp_path / "model.keras"
    target.write_bytes(b"old model")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half a new mod")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"old model"
    assert _leftovers(tmp_path) == []


def test_crash_between_write_and_rename_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    atomic_write_json(target, {"status": "running"})

    def crash(*args, **kwargs):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(atomic, "_fsync_file", crash)
    with pytest.raises(OSError, match="simulated crash"):
        atomic_write_json(target, {"status": "finished", "much": "x" * 100_000})
    assert json.loads(target.read_text()) == {"status": "running"}
    assert _leftovers(tmp_path) == []


def test_writer_that_writes_nothing_is_an_error(tmp_path):
    target = tmp_path / "x.keras"
    target.write_bytes(b"old")
    with pytest.raises(FileNotFoundError):
        with atomic_path(target):
            pass
    assert target.read_bytes() == b"old"


def test_unserialisable_json_leaves_the_old_file(tmp_path):
    target = tmp_path / "m.json"
    atomic_write_json(target, {"ok": 1})
    with pytest.raises(ValueError):
        atomic_write_json(target, {"loss": float("nan")})  # NaN is not JSON
    with pytest.raises(TypeError):
        atomic_write_json(target, {"x": object()})
    assert json.loads(target.read_text()) == {"ok": 1}


def test_sigkill_at_random_moments_never_leaves_a_broken_file(tmp_path):
    """SIGKILL a process that keeps rewriting a file; the file must always be a whole version."""
    target = tmp_path / "metrics.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    rng = random.Random(1234)
    versions_seen = set()
    for _ in range(12):
        process = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(target)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert process.stdout.readline().strip() == "1" or target.exists()  # it is writing
        time.sleep(rng.uniform(0.0, 0.15))  # somewhere inside a later write
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        process.stdout.close()
        data = json.loads(target.read_text())  # never torn
        digest = hashlib.sha256(repr(data["payload"]).encode()).hexdigest()
        assert digest == data["sha256"]
        assert set(data["payload"]) == {data["version"]}
        versions_seen.add(data["version"])
        # Temporaries a killed writer leaves are hidden files beside the target, never the target.
        for leftover in _leftovers(tmp_path):
            (tmp_path / leftover).unlink()
        target.unlink()
    assert len(versions_seen) > 1  # the kills did land at different moments
