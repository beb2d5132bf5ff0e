"""The training engine: one run of a Keras model into a run folder, resumable exactly.
Importing it does not import TensorFlow; a run does, when it starts."""

from reproduce.engine.config import RunConfig
from reproduce.engine.distribution import STRATEGIES, model_scope
from reproduce.engine.failures import TrainingFailed, TrainingInterrupted
from reproduce.engine.run import Run, seed_everything
from reproduce.run_folder import finished_run, read_metrics

__all__ = ["STRATEGIES", "Run", "RunConfig", "TrainingFailed", "TrainingInterrupted", "finished_run",
           "model_scope", "read_metrics", "seed_everything"]  # fmt: skip
