"""Drawing on matplotlib's file-only Agg backend; figures are written atomically."""

from pathlib import Path

from reproduce.atomic import atomic_path


def pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, out_png, title: str | None = None, fontsize=None, top=None) -> Path:
    """Write ``fig`` as PNG atomically (a crash leaves the old file or the new one); close it.
    ``title``: the figure's, in ``fontsize``; ``top``: lay the panels out below it, to there."""
    if title is not None:
        fig.suptitle(title, fontsize=fontsize)
    if top is not None:
        fig.tight_layout(rect=(0, 0, 1, top))
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(out_png) as tmp:
            fig.savefig(tmp, dpi=120, format="png")
    finally:
        pyplot().close(fig)
    return Path(out_png)
