"""The training engine: run folders, resume, seeding, interruption, guards, curves, provenance.

Importing it does not import TensorFlow; a run does, when it starts.

``Run``/``RunSpec`` (:mod:`reproduce.engine.run`, :mod:`reproduce.engine.spec`)
train one model into a run folder; :func:`run_training` does the same in one
call; :func:`seed_everything` seeds a model's initial weights.
"""

from reproduce.engine.distribution import model_scope
from reproduce.engine.failures import TrainingFailed, TrainingInterrupted
from reproduce.engine.run import Run
from reproduce.engine.runfolder import read_metrics
from reproduce.engine.seeding import seed_everything
from reproduce.engine.spec import RunSpec
from reproduce.engine.training import run_training

__all__ = [
    "Run",
    "RunSpec",
    "TrainingFailed",
    "TrainingInterrupted",
    "model_scope",
    "read_metrics",
    "run_training",
    "seed_everything",
]
