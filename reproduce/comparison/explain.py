""" "What the differences mean": sentences computed from the runs' numbers.

"Close to" means within two binomial standard errors of the test split,
``2 * sqrt(p (1 - p) / n_test)``: closer than that, two accuracies cannot be
told apart on 304 images. The text compares runs made on the same data only
(the data most runs used), one representative seed group per (model,
preprocessing) (:func:`reproduce.runs.representative_groups`), its scores
averaged over its training seeds (:meth:`reproduce.runs.SeedGroup.mean_run`);
the introduction says which rows are such means and which rest on one seed.
"""

from __future__ import annotations

import math

from reproduce import settings
from reproduce.comparison.epoch_stats import LATE_EPOCHS, late_mean, mean_abs_step
from reproduce.comparison.formatting import num, pct, points
from reproduce.comparison.shares import SplitShares
from reproduce.report_claims import CLAIMS
from reproduce.runs import Run, primary_data_sha, representative_groups


def binomial_margin(p: float, n: int) -> float:
    """Two standard errors of an accuracy ``p`` measured on ``n`` images."""
    return 2.0 * math.sqrt(max(p * (1.0 - p), 1e-12) / n)


def explain(runs: list[Run], shares: SplitShares | None = None, shares_note: str = "") -> list[str]:
    """ "What the differences mean": one paragraph per question, computed from the runs.

    Args:
        runs: all runs; the text uses :func:`reproduce.runs.representative_runs` on the data
            most runs used.
        shares: class balance of that data's test split (``None``: not available).
        shares_note: why ``shares`` is missing, said in the text.
    """
    sha = primary_data_sha(runs)
    groups = representative_groups(runs, sha)
    chosen = {key: group.mean_run() for key, group in groups.items()}
    paragraphs = []
    if not runs:
        return ["No runs found: train the models first; then this section compares them."]
    sample = next(r for r in runs if r.data_sha256 == sha)
    data_kind = (sample.get("data", {}) or {}).get("kind", "?")
    intro = f"The text below uses the runs on {data_kind} data (sha256 `{sha[:12]}`)"
    if data_kind == "stand-in":
        intro += (
            "; the stand-in is generated, not Kaggle's images, so its accuracies say how the "
            "pipelines behave, not what the report's models scored on the real data"
        )
    quick = [r for r in chosen.values() if r.get("quick") or (r.get("epochs") or 0) < 150]
    if quick:
        names = ", ".join(f"{r.model}/{r.preprocessing} ({r.get('epochs')} epochs)" for r in quick)
        intro += f". Shorter than the report's 150 epochs: {names}"
    intro += _seeds_sentence(chosen)
    paragraphs.append(intro + ".")
    paragraphs.append(_explain_dense(chosen, shares, shares_note))
    paragraphs.append(_explain_dense_bugs_apart(groups))
    paragraphs.append(_explain_resnet(chosen))
    paragraphs.append(_explain_odenet(chosen, groups))
    paragraphs.append(_explain_swings(groups))
    return [p for p in paragraphs if p]


def _seeds_sentence(chosen) -> str:
    """Which of the runs the text uses are means over training seeds, and which one seed."""
    means = [r for r in chosen.values() if r.get("n_seeds")]
    single = [r for r in chosen.values() if not r.get("n_seeds")]
    text = ""
    if means:
        listed = ", ".join(f"{r.model}/{r.preprocessing} ({r.get('n_seeds')} seeds)" for r in means)
        text += f". Scores below are means over training seeds on one split: {listed}"
    if single:
        listed = ", ".join(f"{r.model}/{r.preprocessing}" for r in single)
        text += f". One training seed only, so chance is not separated from the settings: {listed}"
    return text


def _explain_dense(chosen, shares: SplitShares | None, shares_note: str) -> str:
    faithful, corrected = chosen.get(("dense", "r")), chosen.get(("dense", "corrected"))
    claim = CLAIMS["dense"]
    text = ["**The dense script's truncation and scaling bugs.**"]
    if faithful is None and corrected is None:
        return " ".join(text + ["No dense run: nothing to compare."])
    n_test = (
        shares.n_test
        if shares
        else int(
            (faithful or corrected).get(
                "n_test", claim.n_test or settings.R_N_RECORDS - settings.R_N_TRAIN
            )
        )
    )
    if faithful is not None and corrected is not None:
        a_r, a_c = faithful.get("test_accuracy"), corrected.get("test_accuracy")
        if a_r is not None and a_c is not None:
            margin = binomial_margin(max(a_r, a_c), n_test)
            diff = a_c - a_r
            n_records = int(((faithful.get("data") or {}).get("n_records")) or settings.R_N_RECORDS)
            text.append(
                f"With R's preprocessing as printed (pixels of records 1-{math.ceil(n_records / 2)} "
                f"only, half of them HV bands, paired with the labels of records 1-{n_records}; "
                f"test images left unscaled) the "
                f"dense network reached {pct(a_r)} test accuracy after {faithful.get('epochs')} "
                f"epochs; with the corrected pipeline {pct(a_c)} after {corrected.get('epochs')}."
            )
            if abs(diff) <= margin:
                text.append(
                    f"The difference ({points(diff)}) is within two standard errors "
                    f"({points(margin)} on {n_test} test images): these runs do not show a cost."
                )
            elif diff > 0:
                text.append(f"The bugs cost {points(diff)} of test accuracy.")
            else:
                text.append(
                    f"Here the faithful pipeline scored {points(diff)} higher than the corrected "
                    f"one, beyond two standard errors ({points(margin)}); the bugs are not what "
                    f"held it back in these runs."
                )
    else:
        present = faithful or corrected
        missing = "corrected" if faithful is not None else "faithful (r)"
        text.append(
            f"Only a {present.preprocessing} dense run exists ({pct(present.get('test_accuracy'))} "
            f"test accuracy); train the {missing} one to measure the bugs' cost."
        )
    if shares is not None:
        text += _majority_class_sentences(shares, faithful)
    elif shares_note:
        text.append(f"The majority-class share of the test split was not computed: {shares_note}.")
    return " ".join(text)


def _majority_class_sentences(shares: SplitShares, faithful: Run | None) -> list[str]:
    """What always answering the majority class scores, beside the faithful run and the report."""
    claim = CLAIMS["dense"]
    m = shares.majority_share
    margin = binomial_margin(m, shares.n_test)
    text = [
        f"The majority class ({shares.majority_name}) makes up {pct(m)} of the {shares.n_test} "
        f"test images, so always answering it scores {pct(m)}."
    ]
    if faithful is not None and faithful.get("test_accuracy") is not None:
        a_r = faithful.get("test_accuracy")
        if abs(a_r - m) <= margin:
            text.append(
                f"The faithful run's {pct(a_r)} is within {points(margin)} (two standard "
                f"errors) of that: no better than guessing the majority class."
            )
        elif a_r > m:
            text.append(
                f"The faithful run's {pct(a_r)} is {points(a_r - m)} above it: it learned something."
            )
        else:
            text.append(f"The faithful run's {pct(a_r)} is {points(a_r - m)} below it.")
    same_split = (
        shares.data_kind == "real"
        and faithful is not None
        and int(faithful.get("seed", 1)) == 1
        and faithful.get("sample_kind", "Rounding") == "Rounding"
        and not faithful.get("limit_test")
    )
    if same_split and claim.test_accuracy is not None:
        # Real data, set.seed(1), R 3.5's sampler, all test images: the report's own test split.
        gap = claim.test_accuracy - m
        closeness = (
            "within two standard errors of it, as a network that learned nothing would score"
            if abs(gap) <= margin
            else f"{points(gap)} {'above' if gap > 0 else 'below'} it"
        )
        text.append(
            f"The report's {claim.display()}, measured on this same test split, is {closeness}."
        )
    return text


def _explain_resnet(chosen) -> str:
    claim = CLAIMS["resnet"]
    text = [f'**Is the report\'s "{claim.display()}" a train or a test figure?**']
    runs = [chosen[k] for k in (("resnet", "r"), ("resnet", "corrected")) if k in chosen]
    if not runs:
        return " ".join(text + ["No residual CNN run: nothing to compare."])
    run = runs[0]
    train, test = run.get("train_accuracy"), run.get("test_accuracy")
    target = claim.test_accuracy
    text.append(
        f"Our residual CNN (`{run.name}`, {run.get('epochs')} epochs"
        + (f", mean of {run.get('n_seeds')} training seeds" if run.get("n_seeds") else "")
        + f") reached {pct(train)} on the "
        f"training images and {pct(test)} on the test images."
    )
    if train is not None and test is not None:
        if train >= target > test:
            text.append(
                f"Only the training figure clears {pct(target, 0)}: the report's number looks like "
                f"an accuracy on the training images (Keras prints it after every epoch)."
            )
        elif train >= target and test >= target:
            text.append(
                f"Both clear {pct(target, 0)}, so this run cannot tell which split the report scored."
            )
        elif test >= target > train:
            text.append(
                f"Only the test figure clears {pct(target, 0)} here (training accuracy is measured with dropout on)."
            )
        else:
            nearer = "training" if abs(train - target) < abs(test - target) else "test"
            text.append(
                f"Neither reaches {pct(target, 0)} in this run; the {nearer} figure is the nearer "
                f"({points(min(abs(train - target), abs(test - target)))} short)."
            )
    r_style = run.get("r_style_test_accuracy")
    if r_style is not None:
        text.append(
            "The report prints its scoring line cut off, `mean(round(predict(model_resNN, "
            "test_iceberg))[,2] == test_truth` without its closing parenthesis, so what it "
            "computed can only be inferred; completed the shortest way, `mean(round(predict("
            "model_resNN, test_iceberg))[,2] == test_truth)` compares a vector of predictions "
            "with the one-hot test matrix; R "
            "recycles the vector over both columns, and for each image exactly one column "
            f"matches, so completed this way it gives {num(r_style)} here whatever the model"
            + (
                f': the report\'s "{claim.display()}" cannot have come from that line completed so.'
                if abs(r_style - target)
                > binomial_margin(target, claim.n_test or settings.R_N_RECORDS - settings.R_N_TRAIN)
                else "."
            )
        )
    text.append(
        'The report adds "using mean squared error as the measure", yet the code trains with '
        "binary cross-entropy and reports accuracy; nothing in the code computes a squared error."
    )
    return " ".join(text)


def _explain_odenet(chosen, groups=None) -> str:
    text = ["**The ODE-Net against the residual CNN.**"]
    ode = chosen.get(("odenet", "r")) or chosen.get(("odenet", "corrected"))
    res = chosen.get(("resnet", "r")) or chosen.get(("resnet", "corrected"))
    if ode is None:
        return " ".join(
            text + ["No ODE-Net run (the report trains none either: its section 4.2 is empty)."]
        )
    if res is None:
        return " ".join(
            text
            + [
                f"ODE-Net: {pct(ode.get('test_accuracy'))} test accuracy; no residual CNN run to compare with."
            ]
        )
    p_o, p_r = ode.get("params"), res.get("params")
    if p_o and p_r:
        text.append(
            f"The ODE-Net has {int(p_o):,} parameters, {p_o / p_r:.1%} of the residual CNN's "
            f"{int(p_r):,} ({'fewer' if p_o < p_r else 'more'})."
        )
    a_o, a_r = ode.get("test_accuracy"), res.get("test_accuracy")
    if a_o is not None and a_r is not None:
        margin = binomial_margin(
            max(a_o, a_r), int(min(ode.get("n_test", 304), res.get("n_test", 304)))
        )
        if abs(a_o - a_r) <= margin:
            verdict = f"within two standard errors ({points(margin)}) of each other"
        else:
            verdict = f"the ODE-Net {points(a_o - a_r)} {'above' if a_o > a_r else 'below'}"
        text.append(
            f"Test accuracy: {pct(a_o)} ({ode.get('epochs')} epochs) against {pct(a_r)} "
            f"({res.get('epochs')} epochs), {verdict}."
        )
        text += _seed_spread_sentences(groups or {}, ode, res)
    nfe = ode.get("nfe") or {}
    if nfe.get("mean_forward") is not None:
        text.append(
            f"Each forward pass of its ODE block cost {nfe['mean_forward']:.1f} evaluations of the "
            f"dynamics on average (the residual CNN's two blocks are two fixed steps)."
        )
    s_o, s_r = ode.get("seconds_per_epoch"), res.get("seconds_per_epoch")
    if s_o and s_r:
        text.append(f"Time per epoch: {s_o:.1f} s against {s_r:.1f} s ({s_o / s_r:.2f} times).")
    return " ".join(text)


def _seed_spread_sentences(groups, ode, res) -> list[str]:
    """The seeds' spread beside the ODE-Net's gap, and the gap over the last epochs."""
    pair = [groups.get((run.model, run.preprocessing)) for run in (ode, res)]
    if any(g is None or g.n < 2 for g in pair):
        return []
    sds = [g.stats("test_accuracy")[1] for g in pair]
    text = [
        f"Over {pair[0].n} and {pair[1].n} training seeds the test accuracies' standard "
        f"deviations are {points(sds[0])} and {points(sds[1])}: a gap smaller than those is "
        f"not told apart from chance."
    ]
    late = []
    for group in pair:
        values = [late_mean(run.history) for run in group.runs]
        late.append(None if None in values else sum(values) / len(values))
    if None not in late:
        text.append(
            f"Averaged over each run's last {LATE_EPOCHS} epochs (the per-epoch test diagnostic), "
            f"{pct(late[0])} against {pct(late[1])}: the ODE-Net {points(late[0] - late[1])} "
            f"{'above' if late[0] >= late[1] else 'below'}."
        )
    return text


#: The dense pipelines, named by what they keep of the R script's two bugs.
_DENSE_BUGS = {
    "r": "both bugs (as printed)",
    "r-array-only": "the array bug alone",
    "r-scaling-only": "the scaling bug alone",
    "corrected": "neither",
}


def _explain_dense_bugs_apart(groups) -> str:
    """Each dense bug's cost on its own, when the one-bug pipelines were trained.

    The cost of a bug alone is the corrected pipeline's mean test accuracy
    minus that of the pipeline that keeps only this bug; "within two standard
    errors" as everywhere in this text, and a pipeline whose models answer one
    class for every test image in all its seeds is named a constant classifier.
    """
    dense = {prep: groups[("dense", prep)] for prep in _DENSE_BUGS if ("dense", prep) in groups}
    if not {"r-array-only", "r-scaling-only"} & set(dense):
        return ""
    text = ["**The two dense bugs one at a time.**"]
    parts = []
    for prep, group in dense.items():
        accuracy = group.mean_run().get("test_accuracy")
        constant, known = group.constant()
        tag = ", a constant classifier in every seed" if known and constant == group.n else ""
        if known and 0 < constant < group.n:
            tag = f", constant in {constant} of {group.n} seeds"
        parts.append(
            f"{_DENSE_BUGS[prep]} (`{prep}`) {pct(accuracy)}"
            f" ({group.get('epochs')} epochs, {group.n} seed{'s' if group.n > 1 else ''}{tag})"
        )
    text.append("Mean test accuracy with " + "; ".join(parts) + ".")
    corrected = dense.get("corrected")
    if corrected is not None:
        base = corrected.mean_run().get("test_accuracy")
        n_test = int(corrected.get("n_test") or settings.R_N_RECORDS - settings.R_N_TRAIN)
        for prep in ("r-array-only", "r-scaling-only"):
            if prep not in dense or base is None:
                continue
            accuracy = dense[prep].mean_run().get("test_accuracy")
            cost = base - accuracy
            margin = binomial_margin(max(base, accuracy), n_test)
            if cost > margin:
                verdict = f"costs {points(cost)} against the corrected pipeline"
            elif cost < -margin:
                verdict = f"scores {points(cost)} above the corrected pipeline"
            else:
                verdict = f"makes no difference beyond two standard errors ({points(margin)})"
            text.append(f"{_DENSE_BUGS[prep][0].upper()}{_DENSE_BUGS[prep][1:]} {verdict}.")
    return " ".join(text)


def _explain_swings(groups) -> str:
    """Why a CNN's test accuracy swings from epoch to epoch: moving statistics or weights.

    Read from the per-epoch diagnostics of ``history.csv``: the inference-mode
    test accuracy (batch norms on their moving averages) and the one with each
    test batch normalised by its own statistics (``test_accuracy_batch_stats``).
    """
    rows = []
    for model in ("resnet", "odenet"):
        group = groups.get((model, "r")) or groups.get((model, "corrected"))
        if group is None:
            continue
        histories = [run.history for run in group.runs]
        moving = [mean_abs_step(h, "test_accuracy") for h in histories]
        batch = [mean_abs_step(h, "test_accuracy_batch_stats") for h in histories]
        if any(v is None for v in moving + batch):
            continue
        last_batch = [float(h["test_accuracy_batch_stats"].iloc[-1]) for h in histories]
        rows.append((model, group, moving, batch, last_batch))
    if not rows:
        return ""
    text = ["**Why the test accuracy swings from one epoch to the next.**"]
    for model, group, moving, batch, last_batch in rows:
        run = group.mean_run()
        name = "The residual CNN" if model == "resnet" else "The ODE-Net"
        seeds = f"{group.n} seed{'s' if group.n > 1 else ''}, {group.get('epochs')} epochs"
        text.append(
            f"{name} ({seeds}): its test accuracy in inference mode changed by "
            f"{points(sum(moving) / len(moving))} on average from one epoch to the next; "
            f"normalised with each test batch's own statistics (dropout off), by "
            f"{points(sum(batch) / len(batch))}. At the last epoch: {pct(run.get('test_accuracy'))} "
            f"with the moving statistics against {pct(sum(last_batch) / len(last_batch))} with "
            f"batch statistics."
        )
        train = run.get("train_accuracy_inference")
        if train is not None:
            text.append(
                f"Its training images scored {pct(train)} in inference mode, "
                f"{points(train - run.get('test_accuracy'))} above the test images."
            )
    steady = all(sum(b) / len(b) < 0.5 * sum(m) / len(m) for _, _, m, b, _ in rows)
    if steady:
        text.append(
            "The weights classify steadily; what swings is the batch norms' moving "
            "statistics, averages over the last hundred or so training batches (momentum "
            "0.99), taken with dropout on and while the weights still change fast this early "
            "in training. That is Keras 2.2's batch norm as R used it, not a defect of the "
            "port; a test accuracy read from one epoch of a short run is a noisy sample of it. "
            "How much is the averages' lag and how much dropout: `benchmarks/bn_lag.py`."
        )
    return " ".join(text)
