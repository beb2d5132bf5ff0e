"""A data set in a few numbers: class counts, incidence angles, band levels."""

from __future__ import annotations

import numpy as np
import pandas as pd


def summarise(frame: pd.DataFrame) -> dict:
    """Class counts, incidence angles and band levels of a data set.

    Returns:
        ``{"n_records", "n_ships", "n_icebergs", "iceberg_share",
        "inc_angle": {"min", "max", "mean", "n_na"},
        "band_1": {"mean", "std", "min", "max"}, "band_2": {...}}``;
        band statistics are over all pixels, in dB. Plain Python numbers
        (JSON-ready); None where undefined (no records, every angle "na").
    """
    n = int(len(frame))
    labels = frame["is_iceberg"].to_numpy()
    angles = frame["inc_angle"].to_numpy(dtype=np.float64)
    known = angles[~np.isnan(angles)]
    summary: dict = {
        "n_records": n,
        "n_ships": int(np.sum(labels == 0)),
        "n_icebergs": int(np.sum(labels == 1)),
        "iceberg_share": float(np.mean(labels == 1)) if n else None,
        "inc_angle": {
            "min": float(known.min()) if known.size else None,
            "max": float(known.max()) if known.size else None,
            "mean": float(known.mean()) if known.size else None,
            "n_na": int(n - known.size),
        },
    }
    for band in ("band_1", "band_2"):
        if n:
            values = np.stack(frame[band].to_numpy())
            summary[band] = {
                "mean": float(values.mean()),
                "std": float(values.std()),
                "min": float(values.min()),
                "max": float(values.max()),
            }
        else:
            summary[band] = {"mean": None, "std": None, "min": None, "max": None}
    return summary


def format_summary(summary: dict) -> str:
    """Render :func:`summarise`'s dict as a few aligned lines of text."""

    def number(value, digits=2):
        return "n/a" if value is None else f"{value:.{digits}f}"

    angle = summary["inc_angle"]
    share = summary["iceberg_share"]
    lines = [
        f"records      {summary['n_records']}",
        f"classes      {summary['n_ships']} ships, {summary['n_icebergs']} icebergs"
        f" ({'n/a' if share is None else f'{100 * share:.1f}%'} icebergs)",
        f"inc_angle    {number(angle['min'])} .. {number(angle['max'])} degrees,"
        f' mean {number(angle["mean"])}, {angle["n_na"]} "na"',
    ]
    for band, polarisation in (("band_1", "HH"), ("band_2", "HV")):
        stats = summary[band]
        lines.append(
            f"{band} ({polarisation})  mean {number(stats['mean'])} dB, std {number(stats['std'])},"
            f" min {number(stats['min'])}, max {number(stats['max'])}"
        )
    return "\n".join(lines)
