"""How the data's one-line error messages name values: short, JSON-like, on one line."""

from __future__ import annotations

import json
from typing import Any

import numpy as np


def describe(value: Any) -> str:
    """A short description of a JSON value for error messages."""
    if value is None:
        return "null"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the string {shorten(json.dumps(value), 40)}"
    if isinstance(value, (int, np.integer)):
        return f"the number {shorten(str(value), 40)}"
    if isinstance(value, (float, np.floating)):
        return f"the number {float(value)!r}"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    if isinstance(value, dict):
        # JSON-quoted so that keys holding newlines or quotes stay on one line.
        keys = ", ".join(json.dumps(str(key)) for key in list(value)[:5])
        return f"an object with keys [{shorten(keys, 60)}]" if value else "an empty object"
    return f"a {type(value).__name__}"


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(err: BaseException) -> str:
    return shorten(" ".join(str(err).split()) or type(err).__name__, 200)
