"""The Markdown report of one ``bench_odeint.py`` run: goals, then one table per section."""

from __future__ import annotations

import _harness as H

GOAL = 0.8  # ours / theirs, for the forward solve, forward + adjoint, fastest step


def spread(r: dict) -> str:
    """'median (q1-q3, min-max)' of a per-round ratio summary."""
    return (
        f"{r['median']:.3g} (IQR {r['q1']:.3g}-{r['q3']:.3g}, "
        f"range {r['min']:.3g}-{r['max']:.3g}, n={r['n']})"
    )


def _times(r: dict) -> str:
    if r.get("n", 0) < 2:
        return f"{r['median_s']:.3g} (once)"
    return f"{r['median_s']:.3g} ({r['q1_s']:.3g}-{r['q3_s']:.3g})"


def goal_rows(res: dict) -> list[list]:
    """[measure, ratio, goal, mark] for the three goals (shared with the combined report)."""
    out = []
    for label, r in (
        ("forward solve", res["forward"]["ratio"]),
        ("forward + adjoint, seminorm vs seminorm", res["adjoint"]["ratio_seminorm"]),
        ("forward + adjoint, full vs full", res["adjoint"]["ratio_full"]),
        ("fastest training step", res["fastest"]["ratio"]),
    ):
        out.append([label, r, f"<= {GOAL}", H.goal_mark(r["median"], GOAL)])
    return out


def _tolerance_lines(res: dict) -> list[str]:
    tols = res["tolerances"]
    ref = res["reference"]
    rows = [
        [
            side,
            t["tol"],
            t["error"],
            t["nfe"],
            "; ".join(f"{s['tol']:g}: {s['error']:.4g} ({s['nfe']})" for s in t["scanned"]),
        ]
        for side, t in (("ours (ODEBlock)", tols["ours"]), ("torchdiffeq", tols["theirs"]))
    ]
    return [
        f"\n## Equal accuracy\n\nReference: float64 torchdiffeq dopri5 at rtol = atol = "
        f"{ref['tol']:g}, gradient by backprop through it, in chunks of {ref['chunk']} "
        f"examples (NFE per chunk {min(ref['nfe_per_chunk'])}-{max(ref['nfe_per_chunk'])}). "
        f"Bar: torchdiffeq dopri5's final-state error at rtol = atol = {tols['bar_tol']:g}: "
        f"**{tols['bar']:.4g}**; met by errors <= {tols['threshold']:.4g} (slack "
        f"{tols['slack']:.0%}: float32 rounding alone moved torchdiffeq's error by "
        f"{res['torch_format']['rounding_gap_relative']:.1e} (relative) between memory formats). Each "
        "side runs at the loosest tolerance (scanned loosest first) whose error meets it.\n",
        H.markdown_table(
            ["side", "rtol = atol", "rel. error", "NFE", "scanned: tol: error (NFE)"], rows
        ),
    ]


def _forward_lines(res: dict) -> list[str]:
    rows = [
        [k, v["tol"], _times(v), v["nfe"], v["error"], spread(v["ratio_to_torchdiffeq"])]
        for k, v in res["forward"]["rows"].items()
    ]
    return [
        "\n## Forward solve (dopri5, no gradient)\n",
        H.markdown_table(["solve", "tol", "s: median (IQR)", "NFE", "rel. error", "ratio"], rows),
    ]


def _adjoint_lines(res: dict) -> list[str]:
    rows = [
        [
            k,
            v["tol"],
            _times(v),
            v["nfe_forward"],
            v["nfe_backward"],
            v["grad_error"]["y0"],
            v["grad_error"]["params"],
        ]
        for k, v in res["adjoint"]["rows"].items()
    ]
    return [
        "\n## Forward + adjoint backward (dopri5)\n",
        H.markdown_table(
            [
                "step",
                "tol",
                "s: median (IQR)",
                "NFE fwd",
                "NFE bwd",
                "grad err y0",
                "grad err params",
            ],
            rows,
        ),
        f"\nseminorm / seminorm: {spread(res['adjoint']['ratio_seminorm'])}; "
        f"full / full: {spread(res['adjoint']['ratio_full'])}\n",
    ]


def _fastest_lines(res: dict) -> list[str]:
    fast = res["fastest"]
    rows = [
        [
            k,
            v.get("steps") or v.get("tol"),
            _times(v) if "median_s" in v else "",
            v.get("nfe_forward"),
            v.get("nfe_backward"),
            v.get("error") if v.get("reached", True) else "bar not reached",
            v.get("note", ""),
        ]
        for k, v in fast["rows"].items()
    ]
    lines = [
        f"\n## Fastest training step reaching rel. error <= {fast['error_bar']:.3g}\n",
        H.markdown_table(
            ["candidate", "steps / tol", "s: median (IQR)", "NFE fwd", "NFE bwd", "error", "note"],
            rows,
        ),
        f"\n{fast['fastest_ours']} / {fast['fastest_theirs']}: {spread(fast['ratio'])}\n",
    ]
    if fast["adjoint_faster_than_fastest"]:
        lines.append(
            f"\nNote: {fast['adjoint_faster_than_fastest']} (timed in the adjoint section) "
            f"beat their side's fastest backprop step; the ratio above does not include them.\n"
        )
    return lines


def render_markdown(res: dict) -> str:
    """The Markdown report of a bench_odeint run."""
    dyn, fmt = res["dynamics"], res["torch_format"]
    goals = [[m, spread(r), g, mark] for m, r, g, mark in goal_rows(res)]
    lines = [
        "## Goals (ours / torchdiffeq at equal accuracy; median of per-round ratios)\n",
        H.markdown_table(["measure", "ratio", "goal", ""], goals),
        *_tolerance_lines(res),
        *_forward_lines(res),
        *_adjoint_lines(res),
        *_fastest_lines(res),
        "\n## PyTorch memory format (dopri5 forward solve at 1e-3)\n",
        H.markdown_table(
            ["format", "s: median (IQR)"], [[k, _times(v)] for k, v in fmt["rows"].items()]
        ),
        f"\nchannels_last / contiguous: {spread(fmt['channels_last_over_contiguous'])}; "
        f"used: **{fmt['used']}**\n",
        "\n## One dynamics evaluation and VJP\n",
        H.markdown_table(
            ["call", "s: median (IQR)"], [[k, _times(v)] for k, v in dyn["rows"].items()]
        ),
        "",
        H.markdown_table(
            ["ratio", "median (spread)"], [[k, spread(v)] for k, v in dyn["ratios"].items()]
        ),
    ]
    return "\n".join(lines)
