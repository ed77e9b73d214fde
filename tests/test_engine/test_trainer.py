"""The training loop on real demo files: loss goes down, resume is exact, outputs land in the work dir."""
from __future__ import annotations

import json

import pytest
import torch

from m5mm.engine import run_training
from m5mm.engine.checkpoint import latest_checkpoint, list_checkpoints


def _opts(demo_root, **extra):
    return {'data_root': str(demo_root), **extra}


def _weights(trainer) -> dict:
    model = trainer.accelerator.unwrap_model(trainer.model)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_training_lowers_the_loss_and_fills_the_work_dir(demo_root, tiny_config, tmp_path):
    work_dir = tmp_path / 'run'
    trainer = run_training(tiny_config, work_dir=str(work_dir),
                           cfg_options=_opts(demo_root, **{'train_cfg.max_epochs': 6}))
    records = [json.loads(line) for line in (work_dir / 'metrics.jsonl').read_text().splitlines()]
    assert [r['step'] for r in records] == list(range(1, trainer.total_steps + 1))
    for key in ('epoch', 'lr', 'loss', 'loss_con', 'loss_mlm', 'loss_mem', 'loss_mfm_image', 'samples_per_s'):
        assert key in records[0]
    per_epoch = {}
    for r in records:
        per_epoch.setdefault(r['epoch'], []).append(r['loss'])
    first, last = (sum(v) / len(v) for v in (per_epoch[0], per_epoch[max(per_epoch)]))
    assert last < 0.9 * first, f'loss did not go down: epoch 0 {first:.3f} -> last {last:.3f}'
    weights = json.loads((work_dir / 'modality_weights.json').read_text())
    assert len(weights) == 6 and set(weights[0]['weights']) == {'image', 'text', 'table', 'video', 'audio'}
    assert (work_dir / 'modality_weights.png').stat().st_size > 0
    assert (work_dir / 'config.py').is_file() and (work_dir / 'train.log').is_file()
    assert len(list_checkpoints(str(work_dir))) == 3  # max_keep


def test_resumed_run_ends_with_exactly_the_same_weights(demo_root, tiny_config, tmp_path):
    options = _opts(demo_root, **{'train_cfg.max_epochs': 2, 'optim.optimizer.lr': 3e-3})
    straight = run_training(tiny_config, work_dir=str(tmp_path / 'straight'), cfg_options=options)
    total = straight.total_steps
    interrupted_at = total // 2 + 1  # mid-epoch (an odd step of an even-length schedule)
    first = run_training(tiny_config, work_dir=str(tmp_path / 'resumed'), cfg_options=options,
                         max_steps=interrupted_at)
    assert first.state.step == interrupted_at and 0 < first.state.batch_in_epoch
    resumed = run_training(tiny_config, work_dir=str(tmp_path / 'resumed'), cfg_options=options, resume='auto')
    assert resumed.state.step == total
    expected, got = _weights(straight), _weights(resumed)
    assert expected.keys() == got.keys()
    different = [k for k in expected if not torch.equal(expected[k], got[k])]
    assert not different, f'{len(different)} tensors differ after resuming, e.g. {different[:3]}'


def test_a_checkpoint_killed_while_saving_is_ignored(demo_root, tiny_config, tmp_path):
    work_dir = tmp_path / 'run'
    options = _opts(demo_root, **{'train_cfg.max_epochs': 1})
    run_training(tiny_config, work_dir=str(work_dir), cfg_options=options, max_steps=2)
    good = latest_checkpoint(str(work_dir))
    partial = good.parent / 'step_00000099.tmp'  # what a run killed during save_state leaves
    partial.mkdir()
    (partial / 'model.bin').write_bytes(b'half a file')
    assert latest_checkpoint(str(work_dir)) == good
    resumed = run_training(tiny_config, work_dir=str(work_dir), cfg_options=options, resume='auto')
    assert resumed.state.step == resumed.total_steps > 2


def test_resume_from_a_path_that_is_not_a_checkpoint_is_clear(demo_root, tiny_config, tmp_path):
    with pytest.raises(FileNotFoundError, match='not a complete m5mm checkpoint'):
        run_training(tiny_config, work_dir=str(tmp_path / 'run'), cfg_options=_opts(demo_root),
                     resume=str(tmp_path))


def test_load_from_starts_a_new_run_from_converted_weights(demo_root, tiny_config, tmp_path):
    from m5mm.engine.weights import load_model_state_dict, save_model_state_dict
    first = run_training(tiny_config, work_dir=str(tmp_path / 'first'), cfg_options=_opts(demo_root), max_steps=2)
    weights = tmp_path / 'weights.pt'
    save_model_state_dict(load_model_state_dict(latest_checkpoint(str(tmp_path / 'first'))), weights)
    second = run_training(tiny_config, work_dir=str(tmp_path / 'second'),
                          cfg_options=_opts(demo_root, load_from=str(weights)), max_steps=0)
    assert second.state.step == 0
    expected, got = _weights(first), _weights(second)
    assert all(torch.equal(expected[k], got[k]) for k in expected)


def test_gradient_accumulation_counts_optimizer_steps(demo_root, tiny_config, tmp_path):
    plain = run_training(tiny_config, work_dir=str(tmp_path / 'plain'), cfg_options=_opts(demo_root), max_steps=0)
    accumulated = run_training(tiny_config, work_dir=str(tmp_path / 'acc'),
                               cfg_options=_opts(demo_root, **{'optim.accumulation_steps': 2}))
    assert accumulated.steps_per_epoch == -(-plain.steps_per_epoch // 2)
    records = [json.loads(line) for line in (tmp_path / 'acc' / 'metrics.jsonl').read_text().splitlines()]
    assert [r['step'] for r in records] == list(range(1, accumulated.total_steps + 1))
    batches_per_epoch = plain.steps_per_epoch  # every batch is consumed, two per optimizer step
    assert accumulated.state.samples == batches_per_epoch * 8 * accumulated.max_epochs
