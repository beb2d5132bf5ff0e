"""Our runs' numbers beside the report's (``python -m reproduce compare``).

Reads every run folder under ``--runs`` (metrics and history, through
:mod:`reproduce.runs`) and writes a Markdown file (default
``results/COMPARISON.md``) with

* one table (:mod:`~reproduce.comparison.table`): the report's figures
  (:mod:`reproduce.report_claims`) and, for each seed group (runs that differ
  only in the training seed, :func:`reproduce.runs.seed_groups`), model,
  preprocessing, epochs, data, test accuracy and loss and the inference-mode
  train accuracy as mean ± sd over the seeds with n, each seed's test accuracy,
  parameters, wall time, NFE and hardware -- every number read from the runs'
  files, nothing typed by hand; notes under it say what one seed cannot
  separate and where a report figure lies within our seeds' spread;
* "What the differences mean" (:mod:`~reproduce.comparison.explain`):
  sentences computed from those numbers.

An R keras history exported with ``write.csv(as.data.frame(history),
"history.csv")`` (:mod:`~reproduce.comparison.r_history`) adds a row to the
table and dashed curves to ``figures/fig04_07_curves_with_r.png``. A README's
block between ``<!-- results:start -->`` and ``<!-- results:end -->`` can be
replaced with the same table and the figures (:mod:`~reproduce.comparison.readme`).

Decisions:

* A run folder whose metrics cannot be read is listed under "Skipped" rather
  than stopping the comparison (a run may be writing it).
* Where several runs exist for one (model, preprocessing), the text uses one
  representative (:func:`reproduce.runs.representative_runs`); the text only
  compares runs made on the same data (the data most runs used).
* "Close to" means within two binomial standard errors of the test split
  (:func:`~reproduce.comparison.explain.binomial_margin`).
"""

from reproduce.comparison.document import (
    FIGURE_FILES,
    R_EXPORT_LINES,
    comparison_markdown,
    figure_links,
)
from reproduce.comparison.explain import binomial_margin, explain
from reproduce.comparison.make import run_compare
from reproduce.comparison.r_history import read_r_history
from reproduce.comparison.readme import (
    README_END,
    README_START,
    REGENERATE_COMMANDS,
    readme_block,
    replace_between_markers,
)
from reproduce.comparison.shares import SplitShares, shares_for_run, split_class_shares
from reproduce.comparison.table import (
    TABLE_HEADER,
    claim_row,
    comparison_rows,
    group_row,
    markdown_table,
    mean_sd_text,
    r_history_row,
    run_row,
    seed_notes,
)
from reproduce.runs import (
    MODEL_ORDER,
    MODEL_TITLES,
    Run,
    RunScan,
    SeedGroup,
    curve_groups,
    curve_runs,
    load_runs,
    mean_sd,
    primary_data_sha,
    representative_runs,
    seed_groups,
)

__all__ = [
    "FIGURE_FILES",
    "MODEL_ORDER",
    "MODEL_TITLES",
    "README_END",
    "README_START",
    "REGENERATE_COMMANDS",
    "R_EXPORT_LINES",
    "Run",
    "RunScan",
    "SeedGroup",
    "SplitShares",
    "TABLE_HEADER",
    "binomial_margin",
    "claim_row",
    "comparison_markdown",
    "comparison_rows",
    "curve_groups",
    "curve_runs",
    "explain",
    "figure_links",
    "load_runs",
    "group_row",
    "markdown_table",
    "mean_sd",
    "mean_sd_text",
    "primary_data_sha",
    "r_history_row",
    "read_r_history",
    "readme_block",
    "replace_between_markers",
    "representative_runs",
    "run_compare",
    "run_row",
    "seed_groups",
    "seed_notes",
    "shares_for_run",
    "split_class_shares",
]
