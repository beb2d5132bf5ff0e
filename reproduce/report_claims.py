"""The report's own figures, quoted by hand with their sections: the only typed-in numbers of
the project, put beside the computed ones by ``compare`` and ``figures``."""

from dataclasses import dataclass


@dataclass(frozen=True)
class AccuracyClaim:
    """What the report says about one model's test accuracy (a fraction, ``None``: none given;
    ``qualifier`` ">" where it says "over"), what it trained on, in which section and words."""

    model: str
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
        return ("over " if self.qualifier == ">" else "") + f"{self.test_accuracy * 100:g}%"


CLAIMS = {
    "dense": AccuracyClaim(
        "dense", 0.54, "=", 150, 1300, 304, "test (304 images)", "2.2.2-2.2.3 (code: 7.1.2)",
        "The model performed with exceptional mediocrity after being run through 150 epochs. "
        "[...] The final accuracy on the test images was: 54%.",
    ),
    "resnet": AccuracyClaim(
        "resnet", 0.98, ">", 150, 1300, 304, "unclear: 'on the same set of images'",
        "3.2 (code: 7.2.2)",
        "The model used the same number of epochs as the previous neural network and was trained "
        "on the same number of images (1300). [...] The prediction accuracy for this model on the "
        "same set of images was over 98% using mean squared error as the measure.",
    ),
    "odenet": AccuracyClaim(
        "odenet", None, "=", None, None, None, "-", "4.2 (empty)",
        "Section 4.2 'Results' has a heading and no content: no Neural ODE was trained.",
    ),
}  # fmt: skip

#: Section 7.3.2: Euler's method for dy/dx = y, y(0) = 1, step 1 on [0, 4]: (iteration, x, y, dy/dx).
EULER_TABLE_SECTION = "7.3.2"
EULER_TABLE = ((0, 0.0, 1.0, 1.0), (1, 1.0, 2.0, 2.0), (2, 2.0, 4.0, 4.0), (3, 3.0, 8.0, 8.0),
               (4, 4.0, 16.0, 16.0))  # fmt: skip
#: The report's text before the table, which contradicts the table's first row.
EULER_TEXT_QUOTE = (
    "At x = 0, we have y = 1. The derivative at this point is also 0. Then, using the "
    "iterative process: y_{i+1} = y_i + Delta(x) dy/dx, we see that y_1 = 1 + 1 * 0"
)
EULER_TEXT_DERIVATIVE_AT_0 = 0.0  # the text's slope at x = 0 (its table says 1)

SOLUTION_CURVES_SECTION = "7.3.1, equations (24)-(29), Figure 9"
SOLUTION_CURVES_HIGHLIGHT_COLOR = "seagreen"  # "given by the sea green curve" (Figure 9 caption)
PHASE_PORTRAIT_SECTION = "7.3.1, equation (30), Figure 10"
IMAGE_GRID_SECTION = "2.2.1, Figure 3 (drawn by the code in 7.1.2)"
CLASS_NAMES = ("Not an Iceberg", "An Iceberg")  # iceberg_name in 7.1.2
TRAJECTORIES_SECTION = "4.1.1, Figure 8"
CURVES_SECTION = "2.2.3 (Figure 4), 3.2 (Figure 7)"
