"""Checkpoint format 2 on a tiny model: what each part holds, exact restore, refusals that name the file,
atomic replacement and fsync before the rename."""
from __future__ import annotations

import json
import os
import random

import numpy as np
import pytest
import torch
from torch import nn

from m5mm.checkpoint.manager import CheckpointManager, list_checkpoints, recover_interrupted_saves
from m5mm.checkpoint.parts import TrainingParts
from m5mm.checkpoint.safe_load import CheckpointError
from m5mm.engine.schedulers import WarmupLinearDecayLR
from m5mm.checkpoint.weights import load_model_state_dict
from m5mm.utils.files import sha256_file
from tests.test_engine.planted import assert_live, flip_a_stored_byte, plant_in_checkpoint

STATE = dict(epoch=1, step=4, batch_in_epoch=2, samples=32,
             extra=dict(hook_states=dict(MetricsLoggerHook=dict(values={'loss': [1.5]}, samples=8))))


class TiedNet(nn.Module):
    """Two towers sharing one embedding (like the table encoder sharing the text BERT)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.head = nn.Linear(4, 10, bias=False)
        self.head.weight = self.embed.weight
        self.proj = nn.Linear(4, 4)

    def forward(self, x):
        return self.head(self.proj(self.embed(x)))


def _parts(seed: int = 0) -> TrainingParts:
    from m5mm.utils.accelerator import build_accelerator
    accelerator = build_accelerator()   # as the trainer builds it (one precision per process)
    torch.manual_seed(seed)
    model = TiedNet()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    scheduler = WarmupLinearDecayLR(optimizer, total_steps=10, warmup_ratio=0.2)
    model, optimizer = accelerator.prepare(model, optimizer)
    return TrainingParts(accelerator=accelerator, model=model, optimizer=optimizer, scheduler=scheduler)


def _step(parts: TrainingParts, n: int = 2) -> None:
    for i in range(n):
        loss = parts.model(torch.tensor([i, 2 * i + 1, 9 - i])).square().mean()
        loss.backward()
        parts.optimizer.step()
        parts.scheduler.step()
        parts.optimizer.zero_grad()


@pytest.fixture()
def saved(tmp_path):
    """(a checkpoint of a tiny model after 2 steps, the manager, the parts that wrote it)."""
    parts = _parts()
    _step(parts)
    manager = CheckpointManager(parts.accelerator, str(tmp_path / 'work'), parts=parts)
    path = manager.save(4, trainer_state=STATE, meta=dict(processes=1), config_text='x = 1',
                        config_json={'x': 1})
    return path, manager, parts


def _random_draws():
    return (torch.rand(3), np.random.rand(3), random.random())


def test_a_checkpoint_holds_only_json_safetensors_and_weights_only_files(saved):
    path, _, parts = saved
    names = sorted(p.name for p in path.iterdir())
    assert names == ['config.json', 'config.py', 'meta.json', 'model.safetensors', 'optimizer.pt',
                     'rng_0.json', 'rng_0.safetensors', 'scheduler.pt', 'trainer_state_0.json']
    meta = json.loads((path / 'meta.json').read_text())
    assert meta['format'] == 2 and meta['step'] == 4 and set(meta['files']) == set(names) - {'meta.json'}
    assert meta['files']['model.safetensors'] == (path / 'model.safetensors').stat().st_size
    state = json.loads((path / 'trainer_state_0.json').read_text())
    assert {k: state[k] for k in STATE} == STATE and state['accelerator_step'] == parts.accelerator.step
    for name in ('optimizer.pt', 'scheduler.pt'):   # loadable weights-only
        torch.load(str(path / name), weights_only=True)
    # the tied weight is stored once and restored by name, sharing one tensor
    from safetensors import safe_open
    with safe_open(str(path / 'model.safetensors'), 'pt') as handle:
        assert len(list(handle.keys())) == 3
    weights = load_model_state_dict(path)
    assert set(weights) == {'embed.weight', 'head.weight', 'proj.weight', 'proj.bias'}
    assert weights['head.weight'] is weights['embed.weight']
    torch.testing.assert_close(weights['embed.weight'], parts.model.embed.weight.detach())


def test_restore_continues_exactly(saved):
    path, _, parts = saved
    expected_draws = _random_draws()
    _step(parts, 3)
    expected = {k: v.clone() for k, v in parts.model.state_dict().items()}
    expected_lr = parts.scheduler.get_last_lr()

    fresh = _parts(seed=1)   # other weights, other optimizer state, other random streams
    manager = CheckpointManager(fresh.accelerator, str(path.parent.parent), parts=fresh)
    state = manager.load(path)
    assert {k: state[k] for k in STATE} == STATE
    draws = _random_draws()
    assert torch.equal(draws[0], expected_draws[0]) and np.array_equal(draws[1], expected_draws[1])
    assert draws[2] == expected_draws[2]
    manager.load(path)
    _step(fresh, 3)
    assert fresh.scheduler.get_last_lr() == expected_lr
    for name, value in fresh.model.state_dict().items():
        assert torch.equal(value, expected[name]), name
    assert fresh.model.head.weight is fresh.model.embed.weight


@pytest.mark.parametrize('name,raw', [('optimizer.pt', False), ('scheduler.pt', False), ('model.safetensors', True),
                                      ('rng_0.safetensors', True), ('rng_0.json', True),
                                      ('trainer_state_0.json', True), ('meta.json', True)])
def test_a_planted_pickle_in_any_part_is_refused_and_never_runs(saved, tmp_path, name, raw):
    path, _, _ = saved
    marker = tmp_path / 'pwned'
    if name == 'meta.json':
        from tests.test_engine.planted import plant_raw_pickle
        plant_raw_pickle(path / name, marker)
    else:
        plant_in_checkpoint(path, name, marker, raw=raw)
    assert_live(path / name, marker)
    fresh = _parts(seed=1)
    before = {k: v.clone() for k, v in fresh.model.state_dict().items()}
    with pytest.raises(CheckpointError, match=name.replace('.', r'\.')):
        CheckpointManager(fresh.accelerator, str(tmp_path / 'w2'), parts=fresh).load(path)
    assert not marker.exists()
    assert all(torch.equal(v, before[k]) for k, v in fresh.model.state_dict().items())  # nothing applied


def test_a_truncated_or_missing_part_is_an_error_naming_it(saved):
    path, manager, parts = saved
    with open(path / 'optimizer.pt', 'r+b') as handle:
        handle.truncate(100)
    with pytest.raises(CheckpointError, match=r'optimizer\.pt: 100 bytes, but meta.json recorded'):
        manager.load(path)
    other = manager.save(5, trainer_state=STATE, meta=dict(processes=1), config_text='', config_json={})
    (other / 'rng_0.json').unlink()
    with pytest.raises(CheckpointError, match=r'rng_0\.json: missing'):
        manager.load(other)


def test_meta_records_the_sha256_of_every_file_as_written(saved):
    path, _, _ = saved
    meta = json.loads((path / 'meta.json').read_text())
    assert set(meta['sha256']) == set(meta['files'])
    assert all(meta['sha256'][name] == sha256_file(path / name) for name in meta['files'])


@pytest.mark.parametrize('name', ['model.safetensors', 'optimizer.pt'])
def test_a_flipped_byte_is_an_error_naming_the_file_and_restores_nothing(saved, name):
    path, _, _ = saved
    size = (path / name).stat().st_size
    flip_a_stored_byte(path / name)
    assert (path / name).stat().st_size == size
    fresh = _parts(seed=1)
    before = {k: v.clone() for k, v in fresh.model.state_dict().items()}
    with pytest.raises(CheckpointError, match=rf'{name.replace(".", "[.]")}: its sha256 differs from the one '
                                              rf'meta.json recorded'):
        CheckpointManager(fresh.accelerator, str(path.parent.parent), parts=fresh).load(path)
    assert all(torch.equal(v, before[k]) for k, v in fresh.model.state_dict().items())
    if name == 'model.safetensors':   # every reader of the weights checks them (load_from, evaluation, export)
        with pytest.raises(CheckpointError, match=r'model[.]safetensors: its sha256 differs'):
            load_model_state_dict(path)
        with pytest.raises(CheckpointError, match=r'model[.]safetensors: its sha256 differs'):
            load_model_state_dict(path / name)


def test_a_checkpoint_without_digests_is_checked_by_size(saved):
    path, manager, parts = saved
    meta = json.loads((path / 'meta.json').read_text())
    del meta['sha256']                                   # as written before digests were recorded
    (path / 'meta.json').write_text(json.dumps(meta))
    assert {k: manager.load(path)[k] for k in STATE} == STATE
    assert set(load_model_state_dict(path)) == {'embed.weight', 'head.weight', 'proj.weight', 'proj.bias'}
    with open(path / 'optimizer.pt', 'r+b') as handle:
        handle.truncate(100)
    with pytest.raises(CheckpointError, match=r'optimizer\.pt: 100 bytes, but meta.json recorded'):
        manager.load(path)


def test_a_step_folder_without_meta_is_skipped_with_a_warning(saved, caplog):
    import logging
    path, _, _ = saved
    work_dir = str(path.parent.parent)
    unfinished = path.with_name('step_00000009')
    unfinished.mkdir()
    (unfinished / 'model.safetensors').write_bytes((path / 'model.safetensors').read_bytes())
    with caplog.at_level(logging.WARNING, logger='m5mm'):
        assert list_checkpoints(work_dir) == [path]
    assert 'Skipping checkpoint' in caplog.text and 'step_00000009' in caplog.text and 'has no meta.json' in caplog.text


def test_a_checkpoint_of_the_old_pickle_format_is_refused(saved, tmp_path):
    path, manager, _ = saved
    old = tmp_path / 'old'
    old.mkdir()
    (old / 'meta.json').write_text(json.dumps(dict(epoch=0, step=2, processes=1)))
    with pytest.raises(CheckpointError, match='format 1 .*load_from='):
        manager.load(old)


def test_resaving_a_step_replaces_it_atomically_and_fsyncs_first(saved, monkeypatch):
    path, manager, _ = saved
    synced, renamed = [], []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        synced.append(os.readlink(f'/proc/self/fd/{fd}'))
        real_fsync(fd)

    def replace(src, dst):
        renamed.append((str(src), str(dst), set(synced)))
        real_replace(src, dst)

    monkeypatch.setattr(os, 'fsync', fsync)
    monkeypatch.setattr(os, 'replace', replace)
    manager.save(4, trainer_state=STATE, meta=dict(processes=1), config_text='x = 2', config_json={'x': 2})
    # the old step is renamed away first, then the new directory takes its name
    assert [(s.rsplit('/', 1)[1], d.rsplit('/', 1)[1]) for s, d, _ in renamed] == \
        [('step_00000004', 'step_00000004.replaced'), ('step_00000004.tmp', 'step_00000004')]
    tmp = str(path) + '.tmp'
    synced_before = renamed[1][2]
    files = json.loads((path / 'meta.json').read_text())['files']
    assert all(f'{tmp}/{name}' in synced_before for name in list(files) + ['meta.json'])
    assert (path / 'config.py').read_text() == 'x = 2' and not path.with_name(path.name + '.replaced').exists()


def test_recover_puts_back_a_step_killed_between_the_two_renames(saved):
    path, _, _ = saved
    replaced = path.with_name(path.name + '.replaced')
    os.replace(path, replaced)                       # killed after renaming the old step away ...
    tmp = path.with_name(path.name + '.tmp')
    tmp.mkdir()                                      # ... with the new one unfinished
    (tmp / 'model.safetensors').write_bytes(b'half')
    assert list_checkpoints(str(path.parent.parent)) == []
    recover_interrupted_saves(str(path.parent.parent))
    assert list_checkpoints(str(path.parent.parent)) == [path] and not tmp.exists() and not replaced.exists()


def test_the_fp16_gradient_scaler_is_kept_as_json(tmp_path):
    parts = _parts()
    parts.accelerator.scaler = torch.amp.GradScaler('cpu', init_scale=1024.0)   # what fp16 on a GPU creates
    parts.accelerator.scaler.scale(torch.ones(1))
    parts.accelerator.scaler.update(new_scale=512.0)
    manager = CheckpointManager(parts.accelerator, str(tmp_path / 'work'), parts=parts)
    path = manager.save(1, trainer_state=STATE, meta=dict(processes=1), config_text='', config_json={})
    assert json.loads((path / 'scaler.json').read_text())['scale'] == 512.0
    fresh = _parts(seed=1)
    fresh.accelerator.scaler = torch.amp.GradScaler('cpu', init_scale=2.0)
    CheckpointManager(fresh.accelerator, str(tmp_path / 'work'), parts=fresh).load(path)
    assert fresh.accelerator.scaler.get_scale() == 512.0
