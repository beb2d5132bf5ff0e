"""The command line's commands, one module each: ``train`` (dense|resnet|odenet|all), ``data``,
``figures``, ``compare``; and argparse types that refuse a bad value in words (exit status 2)."""

import argparse
import contextlib
import math
from pathlib import Path


def checked(kind, ok, wanted: str):
    """An argparse type: ``kind(text)`` where ``ok`` holds, else 'must be <wanted>, got <text>'."""

    def parse(text: str):
        with contextlib.suppress(ValueError):
            if ok(value := kind(text)):
                return value
        raise argparse.ArgumentTypeError(f"must be {wanted}, got {text!r}")

    parse.__name__ = wanted  # what argparse names in its own messages
    return parse


COUNT = checked(int, lambda v: 0 < v < 2**31, "a whole number from 1 to 2**31 - 1")
POSITIVE = checked(float, lambda v: 0 < v < math.inf, "a positive finite number")
STEP = checked(float, lambda v: 1e-4 <= v < math.inf, "at least 1e-4 (10,000 steps over [0, 1])")
# R's set.seed takes negative seeds too, Keras' seeding does not: refused, not mapped.
SEED = checked(int, lambda v: 0 <= v < 2**31, "a whole number from 0 to 2**31 - 1")
NAME = checked(str, lambda v: v not in ("", ".", "..") and Path(v).name == v, "a plain name")


def folder(text: str) -> str:
    """An argparse type: a folder to write into; refused where it or a parent is a file."""
    try:
        blocked = [p for p in (Path(text), *Path(text).parents) if p.exists() and not p.is_dir()]
    except OSError as err:  # e.g. a name too long
        raise argparse.ArgumentTypeError(f"cannot use it as a folder: {err.strerror}") from err
    if blocked:
        raise argparse.ArgumentTypeError(f"must name a folder: {blocked[0]} is a file")
    return text
