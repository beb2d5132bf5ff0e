"""The report's own figures, as data, each with the section it comes from.

The report is "A Gentle Introduction to Neural Differential Equations"
(B. Thind, SFU, March 2019). These are the only numbers in this project that
are typed by hand: they are quotations of the report, kept here so that the
comparison (``python -m reproduce compare``) and the regenerated figures
(``python -m reproduce figures``) can put them beside our computed numbers.
Every entry quotes the report's wording, so a reader can check it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AccuracyClaim:
    """What the report says about one model's accuracy.

    Attributes:
        model: ``"dense"``, ``"resnet"`` or ``"odenet"`` (the run folders' model names).
        title: how the report names the model.
        test_accuracy: the figure as a fraction, or ``None`` where the report gives none.
        qualifier: ``"="`` for an exact figure, ``">"`` where the report says "over".
        epochs: epochs the report trained for, or ``None``.
        n_train, n_test: the report's split sizes (``None`` where nothing was trained).
        split: which split the figure was measured on, as far as the report tells.
        section: section of the report holding the claim.
        quote: the report's own words.
    """

    model: str
    title: str
    test_accuracy: float | None
    qualifier: str
    epochs: int | None
    n_train: int | None
    n_test: int | None
    split: str
    section: str
    quote: str

    def display(self) -> str:
        """The figure as the report states it ("54%", "over 98%", "none")."""
        if self.test_accuracy is None:
            return "none"
        percent = f"{self.test_accuracy * 100:g}%"
        return f"over {percent}" if self.qualifier == ">" else percent


CLAIMS: dict[str, AccuracyClaim] = {
    "dense": AccuracyClaim(
        model="dense",
        title="dense network (4 x 128 relu, sgd)",
        test_accuracy=0.54,
        qualifier="=",
        epochs=150,
        n_train=1300,
        n_test=304,
        split="test (304 images)",
        section="2.2.2-2.2.3 (code: 7.1.2)",
        quote=(
            "The model performed with exceptional mediocrity after being run through 150 "
            "epochs. [...] The final accuracy on the test images was: 54%."
        ),
    ),
    "resnet": AccuracyClaim(
        model="resnet",
        title="CNN with residual blocks (adam)",
        test_accuracy=0.98,
        qualifier=">",
        epochs=150,
        n_train=1300,
        n_test=304,
        split="unclear: 'on the same set of images'",
        section="3.2 (code: 7.2.2)",
        quote=(
            "The model used the same number of epochs as the previous neural network and was "
            "trained on the same number of images (1300). [...] The prediction accuracy for "
            "this model on the same set of images was over 98% using mean squared error as "
            "the measure."
        ),
    ),
    "odenet": AccuracyClaim(
        model="odenet",
        title="Neural ODE",
        test_accuracy=None,
        qualifier="=",
        epochs=None,
        n_train=None,
        n_test=None,
        split="-",
        section="4.2 (empty)",
        quote="Section 4.2 'Results' has a heading and no content: no Neural ODE was trained.",
    ),
}

#: The report's Euler table (section 7.3.2) for dy/dx = y, y(0) = 1, step 1 on [0, 4],
#: as rows (iteration, x, y, dy/dx).
EULER_TABLE_SECTION = "7.3.2"
EULER_TABLE: tuple[tuple[int, float, float, float], ...] = (
    (0, 0.0, 1.0, 1.0),
    (1, 1.0, 2.0, 2.0),
    (2, 2.0, 4.0, 4.0),
    (3, 3.0, 8.0, 8.0),
    (4, 4.0, 16.0, 16.0),
)

#: The report's text before the table, which contradicts the table's first row.
EULER_TEXT_QUOTE = (
    "At x = 0, we have y = 1. The derivative at this point is also 0. Then, using the "
    "iterative process: y_{i+1} = y_i + Delta(x) dy/dx, we see that y_1 = 1 + 1 * 0"
)
#: The derivative at x = 0 that the report's text states (its table says 1).
EULER_TEXT_DERIVATIVE_AT_0 = 0.0

#: Section 7.3.1: the ODE of Figure 9, its initial condition and closed form as printed.
SOLUTION_CURVES_SECTION = "7.3.1, equations (24)-(29), Figure 9"
SOLUTION_CURVES_ODE = "dy/dx + y/2 = 3/2, y(0) = 2; printed solution y = 3 - exp(-x/2)"
SOLUTION_CURVES_HIGHLIGHT_COLOR = "seagreen"  # "given by the sea green curve" (Figure 9 caption)

#: Section 7.3.1: the logistic (Verhulst) equation of Figure 10.
PHASE_PORTRAIT_SECTION = "7.3.1, equation (30), Figure 10"
PHASE_PORTRAIT_ODE = "dy/dt = r (1 - y/K) y; equilibria 0 (unstable) and K (stable)"

#: Section 2.2.1 / Figure 3 and the appendix code 7.1.2 that draws it.
IMAGE_GRID_SECTION = "2.2.1, Figure 3 (drawn by the code in 7.1.2)"
CLASS_NAMES = ("Not an Iceberg", "An Iceberg")  # iceberg_name in 7.1.2

#: Section 4.1.1, Figure 8.
TRAJECTORIES_SECTION = "4.1.1, Figure 8"
