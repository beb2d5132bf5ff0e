"""Run folders written by hand for the tests of compare, figures and seed groups.

:func:`write_run` writes a finished run's ``metrics.json`` with the keys the
run-folder contract names, and a ``history.csv``; keywords replace keys.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

DATA_SHA = "ab" * 32


def write_run(root, name, **overrides):
    """A run folder with the contract's metrics.json keys and a history.csv."""
    metrics = {
        "model": "dense",
        "preprocessing": "r",
        "status": "finished",
        "epochs": 150,
        "epochs_planned": 150,
        "batch_size": 32,
        "seed": 1,
        "quick": False,
        "test_loss": 0.69,
        "test_accuracy": 0.54,
        "train_loss": 0.68,
        "train_accuracy": 0.55,
        "r_style_test_accuracy": None,
        "params": 769_281,
        "trainable_params": 769_281,
        "wall_time_s": 330.0,
        "seconds_per_epoch": 2.14,
        "nfe": None,
        "command": "python -m reproduce dense",
        "argv": ["dense"],
        # Real data that is not on this machine: no majority share, and no failure.
        "data": {
            "kind": "real",
            "path": "/nonexistent/train.json",
            "sha256": DATA_SHA,
            "n_records": 1604,
            "description": "real",
        },
        "versions": {"python": "3.12"},
        "git_commit": "0" * 40,
        "date": "2025-01-01T00:00:00Z",
        "hardware": "test CPU, 2 cores; no GPU",
        "n_train": 1300,
        "n_test": 304,
    }
    metrics.update(overrides)
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    epochs = max(int(metrics["epochs"]), 1)
    history = pd.DataFrame(
        {
            "epoch": np.arange(1, epochs + 1),
            "loss": np.linspace(0.7, metrics["train_loss"], epochs),
            "accuracy": np.linspace(0.5, metrics["train_accuracy"], epochs),
        }
    )
    if metrics["model"] == "odenet":
        history["nfe"] = 26
    history.to_csv(folder / "history.csv", index=False)
    return folder


#: What the seed tests change in the fake run: a short run with every setting recorded.
SEED_RUN = {
    "epochs": 4,
    "epochs_planned": 4,
    "train_seed": 1,
    "semantics": "keras22",
    "sample_kind": "Rounding",
    "limit_train": None,
    "limit_test": None,
    "train_accuracy_inference": 0.56,
    "predicted_class_shares": {"0": 0.4, "1": 0.6},
    "params": 769_793,
    "wall_time_s": 30.0,
    "data": {"kind": "real", "path": "/a/train.json", "sha256": DATA_SHA, "n_records": 1604},
    "hardware": "test CPU",
}


def three_seeds(root, accuracies=(0.54, 0.61, 0.58), **overrides):
    """Seeds 1, 2, 3 of one setting, as `dense --train-seeds 1 2 3` leaves them; timing and
    provenance differ between the seeds as they do between real sessions."""
    for seed, accuracy in zip((1, 2, 3), accuracies):
        write_run(
            root,
            "dense-r-real-e4" + ("" if seed == 1 else f"-t{seed}"),
            **{
                **SEED_RUN,
                "train_seed": seed,
                "test_accuracy": accuracy,
                "test_loss": 1.0 - accuracy,
                "train_accuracy": accuracy + 0.1,
                "train_accuracy_inference": accuracy + 0.05,
                "wall_time_s": 30.0 + seed,
                "date": f"2025-01-0{seed}T00:00:00Z",
                "git_commit": str(seed) * 40,
                "hardware": f"machine {seed}",
                "argv": ["dense", "--train-seeds", "1", "2", "3"],
                "data": {**SEED_RUN["data"], "path": f"/{seed}/train.json"},
                **overrides,
            },
        )
