"""The Markdown report of ``bench_odeint.py``: goals, then one table per section."""

from __future__ import annotations

import _harness as H


def _goals(res: dict) -> list[str]:
    """The goals table: the three headline ratios against their goals."""
    fwd, adj, fast = res["forward"], res["adjoint"], res["fastest"]
    return [
        "## Goals (ratio ours / torchdiffeq, median of interleaved per-round ratios)\n",
        H.markdown_table(
            ["measure", "ours", "theirs", "ratio", "goal", ""],
            [
                [
                    "forward solve",
                    fwd["headline_name"],
                    "odeint",
                    fwd["headline"],
                    "<= 1.0",
                    H.goal_mark(fwd["headline"], 1.0),
                ],
                [
                    "forward + adjoint backward",
                    adj["headline_name"],
                    "odeint_adjoint",
                    adj["headline"],
                    "<= 1.0",
                    H.goal_mark(adj["headline"], 1.0),
                ],
                [
                    "fastest training step at equal error",
                    fast["fastest_ours"],
                    fast["fastest_theirs"],
                    fast["headline"],
                    "<= 0.8",
                    H.goal_mark(fast["headline"], 0.8),
                ],
            ],
        ),
    ]


def render_markdown(res: dict) -> str:
    """The Markdown report of a bench_odeint run."""
    fwd, adj, fast, dyn = res["forward"], res["adjoint"], res["fastest"], res["dynamics"]
    lines = [
        *_goals(res),
        "\n## One dynamics evaluation\n",
        H.markdown_table(
            ["ratio", "median", "q1", "q3"],
            [[k, v["median"], v["q1"], v["q3"]] for k, v in dyn["ratios"].items()],
        ),
        "\n## Forward solve (dopri5, rtol = atol = 1e-3)\n",
        H.markdown_table(
            ["implementation", "median s", "NFE", "rel. error", "ratio to odeint"],
            [
                [k, v["median_s"], v["nfe"], v["error"], v["ratio_to_torchdiffeq"]["median"]]
                for k, v in fwd["rows"].items()
            ],
        ),
        f"\nodelayers.odeint / plain TFP (same dynamics; NFE and first step differ): "
        f"{fwd['layer_overhead_vs_plain_tfp']['median']:.3g}; ODEBlock / odelayers.odeint "
        f"(Keras layer vs plain TF dynamics): {fwd['block_over_odeint']['median']:.3g}\n",
        "\n## Forward + backward, adjoint\n",
        H.markdown_table(
            ["implementation", "median s", "NFE fwd", "NFE bwd", "ratio"],
            [
                [
                    k,
                    v["median_s"],
                    v["nfe_forward"],
                    v["nfe_backward"],
                    v["ratio_to_torchdiffeq"]["median"],
                ]
                for k, v in adj["rows"].items()
            ],
        ),
        f"\nODEBlock adjoint (seminorm, the default) / torchdiffeq odeint_adjoint with "
        f"its seminorm option: {adj['ratio_to_torchdiffeq_seminorm']:.3g}\n",
        f"\nGradients, largest relative difference to torchdiffeq's: "
        f"{adj['gradient_max_relative_difference_vs_torchdiffeq']:.2e}\n",
        f"\n## Fastest training step reaching relative error <= {fast['error_bar']:.3g}\n",
        H.markdown_table(
            ["candidate", "median s", "steps", "NFE fwd", "NFE bwd", "rel. error", "note"],
            [
                [
                    k,
                    v.get("median_s"),
                    v.get("steps"),
                    v.get("nfe_forward"),
                    v.get("nfe_backward"),
                    v.get("error") if v.get("reached", True) else "not reached <= 64 steps",
                    v.get("note", ""),
                ]
                for k, v in fast["rows"].items()
            ],
        ),
    ]
    return "\n".join(lines)
