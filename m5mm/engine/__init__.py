"""Training: the Accelerate trainer, checkpoints, hooks, optimizers and schedulers."""
from .checkpoint import CheckpointManager, latest_checkpoint, list_checkpoints
from .data import EpochShuffleSampler, build_dataloader, build_dataset
from .run import run_training
from .safe_load import CheckpointError
from .state import TrainState
from .trainer import Trainer

__all__ = ['CheckpointError', 'CheckpointManager', 'EpochShuffleSampler', 'TrainState', 'Trainer', 'build_dataloader',
           'build_dataset', 'latest_checkpoint', 'list_checkpoints', 'run_training']
