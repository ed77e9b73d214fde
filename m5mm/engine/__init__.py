"""Training: the Accelerate trainer, its hooks, optimizers and schedulers (see docs/concepts.md).

Checkpoint storage lives in :mod:`m5mm.checkpoint`, evaluation in :mod:`m5mm.evaluation` and data loaders
in :mod:`m5mm.datasets.loaders`; the names below are re-exported from there so 0.2 imports keep working.
"""
from m5mm.checkpoint import CheckpointError, CheckpointManager, TrainState, latest_checkpoint, list_checkpoints
from m5mm.datasets.loaders import EpochShuffleSampler, build_dataloader, build_dataset

from .run import run_training
from .trainer import Trainer

__all__ = ['CheckpointError', 'CheckpointManager', 'EpochShuffleSampler', 'TrainState', 'Trainer', 'build_dataloader',
           'build_dataset', 'latest_checkpoint', 'list_checkpoints', 'run_training']
