"""Resuming a run: which checkpoint, what the config may change, restoring hooks and data position.

``--resume`` (``'auto'``) takes the newest complete checkpoint; when it cannot be restored, the
previous one is used with a warning that says so. An explicit checkpoint path is restored or the
run fails, naming the file. A work dir that holds checkpoints is never trained from scratch again.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from m5mm.checkpoint.integrity import verify_in_checkpoint
from m5mm.checkpoint.manager import CONFIG_JSON, check_resumable, list_checkpoints
from m5mm.checkpoint.run_config import config_changes, config_json, run_defining
from m5mm.checkpoint.safe_load import CheckpointError, read_json
from m5mm.checkpoint.work_dir import record_resume
from m5mm.datasets.loaders import data_state, restore_data_state
from m5mm.engine.builder import hook_for_state
from m5mm.utils.config import ConfigError

if TYPE_CHECKING:
    from m5mm.engine.trainer import Trainer


def check_fresh_start(work_dir: Path, resume: Optional[str]) -> None:
    """A run that does not resume must not write into a work dir that holds another run's checkpoints."""
    existing = list_checkpoints(str(work_dir), quiet=resume is not None)   # (a resume lists them again)
    if resume is None and existing:
        raise ConfigError(f'work dir {work_dir} already holds a run (checkpoints up to {existing[-1].name}). '
                          f'Continue it with --resume, or train in another --work-dir')


def hook_states(trainer: 'Trainer') -> Dict[str, Any]:
    """Every hook's non-empty ``state_dict()`` by hook key, checked to be JSON-able."""
    states = {}
    for key, hook in trainer.hooks_by_key.items():
        state = hook.state_dict()
        if state:
            try:
                json.dumps(state)
            except (TypeError, ValueError) as exc:
                raise TypeError(f'hook {key}: state_dict() must be JSON-able to be checkpointed ({exc})') from None
            states[key] = state
    return states


def extra_state(trainer: 'Trainer') -> Dict[str, Any]:
    """``TrainState.extra`` at a checkpoint: hook states, the message record (:mod:`m5mm.engine.messages`) and
    the train loader's :func:`data_state` (a stream's position and the facts a resume must agree with; empty for
    a map-style loader)."""
    return dict(trainer.state.extra, hook_states=hook_states(trainer), messages=trainer.messages.state_dict(),
                data_state=data_state(trainer.train_loader))


def restore_state(trainer: 'Trainer', state: Dict[str, Any]) -> None:
    """Set the trainer's counters, message record, hooks and data position from a checkpoint's trainer state."""
    trainer.state.load_state_dict(state)
    restore_data_state(trainer.train_loader, trainer.state.extra.get('data_state'))
    if trainer.state.batch_in_epoch >= len(trainer.train_loader):  # saved at an epoch end
        trainer.state.epoch += 1
        trainer.state.batch_in_epoch = 0
    try:
        trainer.messages.load_state_dict(trainer.state.extra.get('messages') or {})
    except (TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f'the checkpoint\'s message record cannot be read ({exc})') from None
    for key, hook_state in trainer.state.extra.get('hook_states', {}).items():
        hook = hook_for_state(trainer.hooks_by_key, key)
        if hook is not None:
            hook.load_state_dict(hook_state)
        else:
            trainer.logger.warning('The checkpoint holds the state of hook %s, which this run does not have', key)


def _config_changes(path: Path, new: Dict[str, Any], allow_config_change: bool) -> List[str]:
    verify_in_checkpoint(path / CONFIG_JSON)   # a damaged config.json falls back like any damaged file
    changes = config_changes(read_json(path / CONFIG_JSON), new)
    defining = run_defining(changes)
    if defining and not allow_config_change:
        raise ConfigError(f'resuming {path} with a config that changes the model or the training data: '
                          f'{"; ".join(defining[:8])}. That would be another experiment: start it in a new '
                          f'--work-dir (with load_from= to start from these weights), or pass --allow-config-change '
                          f'to continue anyway (recorded in resumes.jsonl)')
    return changes


def resume_from(trainer: 'Trainer', candidates: List[Path], *, cfg_options: Optional[dict] = None,
                allow_config_change: bool = False) -> Optional[Path]:
    """Restore the first of ``candidates`` that can be restored; returns it (None: nothing to resume).

    Raises:
        CheckpointError: the last candidate cannot be restored either (the message names the file).
        ConfigError: the config changes the model or the data and ``allow_config_change`` is False.
    """
    new = config_json(trainer.cfg)
    for i, path in enumerate(candidates):
        try:
            check_resumable(path, trainer.accelerator)
            changes = _config_changes(path, new, allow_config_change)
            state = trainer.checkpoints.load(path)
        except CheckpointError as exc:
            if i + 1 == len(candidates):
                raise
            trainer.logger.warning('Cannot restore the newest checkpoint %s: %s. FALLING BACK to the previous '
                                   'complete checkpoint %s: the steps after it are trained again.',
                                   path, exc, candidates[i + 1])
            continue
        restore_state(trainer, state)
        if trainer.is_main:
            record_resume(trainer.work_dir, checkpoint=path, step=trainer.state.step, cfg_options=cfg_options,
                          changed=changes)
        if changes:
            trainer.logger.warning('Resumed with config changes (recorded in resumes.jsonl): %s', '; '.join(changes))
        trainer.logger.info('Resumed from %s at epoch %d, step %d', path, trainer.state.epoch, trainer.state.step)
        return path
    return None
