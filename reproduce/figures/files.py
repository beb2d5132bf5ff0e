"""The figure files: one name and one caption per figure, in the report's order.

``figures`` writes them and ``compare`` links them; both read the names here.
"""

from __future__ import annotations

#: key -> (file name under the figures folder, caption)
FIGURES = {
    "fig03": (
        "fig03_images.png",
        "Figure 3: the first 25 training images as the R code draws them",
    ),
    "fig04_07": ("fig04_07_curves.png", "Figures 4 and 7: loss and accuracy per epoch, per model"),
    "fig04_07_with_r": ("fig04_07_curves_with_r.png", "Figures 4 and 7 with the R keras history"),
    "fig08": ("fig08_trajectories.png", "Figure 8: residual network vs Neural ODE hidden states"),
    "fig09": ("fig09_solution_curves.png", "Figure 9: solution curves of dy/dx + y/2 = 3/2"),
    "fig10": ("fig10_phase_portrait.png", "Figure 10: phase portrait of the logistic equation"),
    "fig11": ("fig11_euler.png", "Figure 11: Euler's method, step 1, against exp(x)"),
}


def file_name(key: str) -> str:
    """The file name of figure ``key`` (a key of :data:`FIGURES`)."""
    return FIGURES[key][0]
