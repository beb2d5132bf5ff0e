"""The comparison's tables, as rows of numbers: one per seed group, one per run, one per
report figure. Fractions stay fractions here; :func:`markdown` shows them as percentages."""

from reproduce.comparison.stats import binomial_margin, mean_interval
from reproduce.report_claims import CLAIMS
from reproduce.runs import MODELS, RunRecord, SeedGroup, seed_groups

#: A largest predicted-class share at least this large makes a constant classifier.
CONSTANT_SHARE = 1.0 - 1e-9
#: Columns shown as percentages in Markdown.
PERCENT = ("accuracy", "share", "ci95")


def is_constant(run: RunRecord) -> bool | None:
    """Whether the run predicts one class for every test image (``None``: not recorded)."""
    shares = run.get("predicted_class_shares")
    return max(map(float, shares.values())) >= CONSTANT_SHARE if shares else None


def solver(run: RunRecord) -> str:
    """The ODE solver as recorded (``solver`` or the ODE-Net's ``ode`` settings), else ''."""
    ode = run.get("solver") or run.get("ode")
    if not isinstance(ode, dict):
        return str(ode or "")
    if ode.get("step_size") is not None:
        return f"{ode.get('method')} step={ode['step_size']}"
    return f"{ode.get('method')} rtol={ode.get('rtol')} atol={ode.get('atol')}"


def _joined(values) -> str:
    return " / ".join(dict.fromkeys(str(v) for v in values))


def _short_commit(commit) -> str:
    commit = str(commit or "unknown")
    return commit[:7] + ("-dirty" if commit.endswith("-dirty") else "")


def paired_rows(groups: list[SeedGroup]) -> list[dict]:
    """Test-accuracy differences seed by seed between two groups trained alike (epochs, images):
    two of one model (a seed gives both the same initial weights and batch order), or the ODE-Net
    and the residual CNN; the mean and t-interval of the differences, over the shared seeds."""
    rows, alike = [], ("epochs", "n_train", "n_test", "validation")
    for i, first in enumerate(groups):
        for second in groups[i + 1 :]:
            models = {first.model, second.model}
            if (len(models) > 1 and models != {"resnet", "odenet"}) or any(
                first.get(k) != second.get(k) for k in alike
            ):
                continue
            a, b = (dict(zip(g.train_seeds, g.values("test_accuracy"))) for g in (first, second))
            seeds = [s for s in a if a[s] is not None and b.get(s) is not None]
            differences = [b[s] - a[s] for s in seeds]
            mean, low, high, n = mean_interval(differences)
            if n >= 2:
                rows.append({"configuration": second.name, "minus": first.name, "n": n,
                             "accuracy_difference_per_seed": list(zip(seeds, differences)),
                             "accuracy_difference_mean": mean, "ci95_low": low,
                             "ci95_high": high})  # fmt: skip
    return rows


def group_row(group: SeedGroup, majority_share: float | None = None) -> dict:
    """A seed group's numbers: mean and 95% t-interval over its seeds, and its settings."""
    accuracy = group.values("test_accuracy")
    mean, low, high, _ = mean_interval(accuracy)
    # An accuracy lies in [0, 1]; the symmetric t-interval may not.
    low, high = (None, None) if low is None else (max(0.0, low), min(1.0, high))
    claim, data = CLAIMS.get(group.model), group.runs[0].data
    return {"model": group.model, "preprocessing": group.preprocessing,
            "configuration": group.name, "status": group.get("status"),
            "epochs": group.get("epochs"), "solver": solver(group.runs[0]),
            "n_train": group.get("n_train"), "n_test": group.get("n_test"),
            "data": f"{data.get('kind')} {data.get('sha256', '')[:12]}",
            "report": claim.display() if claim else None, "n": group.n,
            "test_accuracy_per_seed": list(zip(group.train_seeds, accuracy)),
            "test_accuracy_mean": mean, "ci95_low": low, "ci95_high": high,
            "test_accuracy_binomial_margin": binomial_margin(mean, group.get("n_test")),
            "majority_share": majority_share,
            "constant_seeds": [r.train_seed for r in group.runs if is_constant(r)],
            "test_loss_mean": mean_interval(group.values("test_loss"))[0],
            "train_accuracy_inference_mean": mean_interval(group.values("train_accuracy_inference"))[0],
            "hardware": _joined(group.values("hardware")),
            "commit": _joined(map(_short_commit, group.values("git_commit")))}  # fmt: skip


#: The numbers of one run, as ``metrics.json`` names them.
RUN_KEYS = ("status", "epochs", "test_accuracy", "test_loss", "train_accuracy_inference",
            "train_accuracy", "wall_time_s")  # fmt: skip


def run_row(run: RunRecord, configuration: str) -> dict:
    row = {"run": run.name, "configuration": configuration, "train_seed": run.train_seed}
    row.update({key: run.get(key) for key in RUN_KEYS}, constant=is_constant(run))
    return {**row, "nfe_mean": (run.get("nfe") or {}).get("mean_forward")}


def claim_rows() -> list[dict]:
    """The report's figures with what they were measured on."""
    keys = ("epochs", "n_train", "n_test", "split", "section")
    return [{"model": c.model, "report": c.display()} | {k: getattr(c, k) for k in keys}
            for c in CLAIMS.values()]  # fmt: skip


def comparison_tables(runs: list[RunRecord], majority=lambda run: None) -> tuple[list, list, list]:
    """(group rows, run rows, paired rows) in the report's model order; ``majority(run)``: the
    run's majority-class share."""
    order = {m: i for i, m in enumerate(MODELS)}
    groups = sorted(seed_groups(runs), key=lambda g: order.get(g.model, len(MODELS)))
    group_rows = [group_row(g, majority(g.runs[0])) for g in groups]
    run_rows = [run_row(r, g.name) for g in groups for r in g.runs]
    return group_rows, run_rows, paired_rows(groups)


def _cell(column: str, value) -> str:
    if isinstance(value, list):
        pairs = (
            f"{v[0]}: {_cell(column, v[1])}" if isinstance(v, tuple) else str(v) for v in value
        )
        return ", ".join(pairs) or "–"
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if any(word in column for word in PERCENT):
            return f"{value * 100:.1f}"
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value).replace("|", "\\|")


def markdown(rows: list[dict]) -> str:
    """Rows as a GitHub Markdown table; percentage columns get a ``(%)`` in their header."""
    if not rows:
        return "(none)"
    columns = list(rows[0])
    header = [c + (" (%)" if any(w in c for w in PERCENT) else "") for c in columns]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(_cell(c, row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def csv_cell(value):
    """A value as ``comparison.csv`` holds it: lists joined with ';', pairs as 'seed:value'."""
    if isinstance(value, list):
        return ";".join(f"{v[0]}:{v[1]}" if isinstance(v, tuple) else str(v) for v in value)
    return value
