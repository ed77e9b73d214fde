"""Checkpoint storage: saving and loading a run's parts (weights, optimizer, RNG, counters, config), their
integrity digests, safe loading and the work-dir lock. It imports no training, model or evaluation code
(see docs/concepts.md); :mod:`m5mm.engine` drives it during training, :mod:`m5mm.api` reads it."""
from .manager import CheckpointManager, latest_checkpoint, list_checkpoints, resolve_checkpoint
from .safe_load import CheckpointError
from .state import TrainState
from .weights import load_model_weights, save_model_state_dict

__all__ = ['CheckpointError', 'CheckpointManager', 'TrainState', 'latest_checkpoint', 'list_checkpoints',
           'load_model_weights', 'resolve_checkpoint', 'save_model_state_dict']
