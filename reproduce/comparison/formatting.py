"""How the comparison writes numbers: percentages, losses, differences in points."""

from __future__ import annotations


def pct(value, digits: int = 1) -> str:
    """``value`` (a share) as a percentage, or a dash when unknown."""
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def num(value, fmt: str = ".3f") -> str:
    """``value`` formatted with ``fmt``, or a dash when unknown."""
    return "–" if value is None else format(value, fmt)


def points(difference: float) -> str:
    """A difference of two accuracies in percentage points."""
    return f"{abs(difference) * 100:.1f} percentage points"
