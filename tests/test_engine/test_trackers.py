"""Accelerate's trackers as a config value: TensorBoard gets the metrics rows, a resume replaces re-trained steps."""
from __future__ import annotations

import json

import pytest
from accelerate.tracking import get_available_trackers

from m5mm.engine import run_training
from m5mm.checkpoint.manager import latest_checkpoint
from m5mm.engine.trackers import flat_hparams, tracker_names
from m5mm.utils.config import ConfigError

#: a checkpoint at step 2 only: the resume trains step 3 again
HOOKS = [dict(type='MetricsLoggerHook', interval=1),
         dict(type='CheckpointHook', interval=2, by_epoch=False, save_last=False)]


def _scalars(work_dir) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    runs = [p for p in (work_dir / 'trackers' / 'm5mm').iterdir() if p.name.startswith('events.')]
    assert runs, 'no TensorBoard event file'
    acc = EventAccumulator(str(work_dir / 'trackers' / 'm5mm'))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()['scalars']}


def test_tensorboard_gets_every_metrics_row_and_a_resume_replaces_the_retrained_steps(
        demo_root, tiny_config, tmp_path):
    pytest.importorskip('tensorboard')
    work_dir = tmp_path / 'run'
    options = {'data_root': str(demo_root), 'hooks': HOOKS, 'log_with': 'tensorboard'}
    trainer = run_training(tiny_config, work_dir=str(work_dir), cfg_options=options, max_steps=3)
    assert trainer.messages.info('train_log')['step'] == 3
    assert [s for s, _ in trainer.messages.history('train/loss_con')] == [1, 2, 3]
    state = json.loads((latest_checkpoint(str(work_dir)) / 'trainer_state_0.json').read_text())
    assert state['extra']['messages']['infos']['train_log']['step'] == 2   # the record is checkpointed as JSON
    run_training(tiny_config, work_dir=str(work_dir), cfg_options=options, resume='auto', max_steps=4)
    rows = [json.loads(line) for line in (work_dir / 'metrics.jsonl').read_text().splitlines()]
    scalars = _scalars(work_dir)
    for key in ('loss', 'loss_con', 'lr', 'samples_per_s'):
        assert [s for s, _ in scalars[f'train/{key}']] == [1, 2, 3, 4], key   # each step once (3: the re-trained)
        assert [v for _, v in scalars[f'train/{key}']] == pytest.approx([r[key] for r in rows], rel=1e-6)


def test_log_with_names_accelerate_trackers_and_says_what_to_install():
    assert tracker_names(None) is None and tracker_names('tensorboard') == ['tensorboard']
    with pytest.raises(ConfigError, match="unknown tracker 'tensorbord'"):
        tracker_names('tensorbord')
    if 'wandb' not in {str(t) for t in get_available_trackers()}:
        with pytest.raises(ConfigError, match='pip install wandb'):
            tracker_names(['tensorboard', 'wandb'])
    assert flat_hparams({'optim': {'lr': 1e-3, 'betas': (0.9, 0.98)}, 'x': None}) == {
        'optim.lr': 1e-3, 'optim.betas': '(0.9, 0.98)', 'x': None}
