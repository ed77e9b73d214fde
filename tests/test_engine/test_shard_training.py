"""Training on shards: exact resume with DataLoader workers, a clear error when workers change, a damaged
member counted in media_report.json, and two DDP processes on shards of unequal sizes reading every sample
of an epoch once."""
from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from m5mm.datasets.shards.command import make_shards
from m5mm.engine import run_training

from .test_distributed import TIMEOUT, _env, _free_port

REPO = Path(__file__).resolve().parents[2]
TINY = str(REPO / 'configs' / 'scale_5mod_tiny.py')
pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def tiny_shards(demo_root, tmp_path_factory) -> Path:
    """The demo catalogue as shards of 7 products (uneven), media preprocessed with the tiny config."""
    out = tmp_path_factory.mktemp('tiny_shards')
    make_shards(TINY, out=str(out), shard_size=7, preprocess='all', workers=1,
                cfg_options=dict(data_root=str(demo_root)), log=lambda line: None)
    return out


def _weights(trainer) -> dict:
    model = trainer.accelerator.unwrap_model(trainer.model)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _opts(shards, **extra):
    return {'data_root': str(shards), 'train_cfg.max_epochs': 2, 'train_dataloader.num_workers': 2,
            'optim.optimizer.lr': 3e-3, 'hooks': [dict(type='CheckpointHook', by_epoch=True)], **extra}


def test_a_run_resumed_mid_epoch_on_shards_ends_with_the_same_weights(tiny_shards, tmp_path):
    straight = run_training(TINY, work_dir=str(tmp_path / 'straight'), cfg_options=_opts(tiny_shards))
    assert type(straight.train_dataset).__name__ == 'ShardedDataset'
    stop = straight.total_steps // 2 + 1
    first = run_training(TINY, work_dir=str(tmp_path / 'resumed'), cfg_options=_opts(tiny_shards), max_steps=stop)
    assert first.state.step == stop and first.state.batch_in_epoch > 0
    resumed = run_training(TINY, work_dir=str(tmp_path / 'resumed'), cfg_options=_opts(tiny_shards), resume='auto')
    assert resumed.state.step == straight.total_steps
    expected, got = _weights(straight), _weights(resumed)
    different = [k for k in expected if not torch.equal(expected[k], got[k])]
    assert not different, f'{len(different)} tensors differ after resuming, e.g. {different[:3]}'
    with pytest.raises(ValueError, match='train_dataloader.num_workers=2'):
        run_training(TINY, work_dir=str(tmp_path / 'resumed'), resume='auto',
                     cfg_options=_opts(tiny_shards, **{'train_dataloader.num_workers': 1}))


def test_a_damaged_stored_array_is_counted_in_media_report_json(tiny_shards, tmp_path):
    shards = Path(shutil.copytree(tiny_shards, tmp_path / 'shards'))
    index = json.loads((shards / 'index.json').read_text())
    path = shards / index['splits']['train']['shards'][0]['file']
    with tarfile.open(path) as tar:
        members = [(info, tar.extractfile(info).read()) for info in tar.getmembers()]
    damaged = next(info.name for info, _ in members if info.name.endswith('.npy') and '.image.' in info.name)
    sample_id = json.loads(dict((i.name, d) for i, d in members)[damaged.split('.')[0] + '.json'])['id']
    buffer = io.BytesIO()
    np.save(buffer, np.array([{'not': 'an array'}], dtype=object), allow_pickle=True)
    with tarfile.open(path, 'w') as tar:
        for info, data in members:
            data = buffer.getvalue() if info.name == damaged else data
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    samples = index['splits']['train']['samples']   # one batch of all of them: every sample is read
    run_training(TINY, work_dir=str(tmp_path / 'run'), cfg_options={
        'data_root': str(shards), 'train_cfg.max_epochs': 1, 'train_dataloader.batch_size': samples,
        'hooks': [dict(type='MediaReportHook')]})
    epoch = json.loads((tmp_path / 'run' / 'media_report.json').read_text())['train']['epochs'][0]
    assert epoch['samples_read'] == samples and epoch['errors']['image']['corrupt shard member'] == 1
    assert epoch['examples']['image: corrupt shard member'] == [sample_id]


def test_two_ddp_processes_on_uneven_shards_read_each_sample_once(tiny_shards, tmp_path):
    config = tmp_path / 'record_ids.py'
    config.write_text(f"_base_ = [{TINY!r}]\n"
                      "custom_imports = dict(imports=['tests.test_engine.batch_ids_hook'])\n"
                      "hooks = [dict(type='RecordBatchIdsHook'), dict(type='CheckpointHook', by_epoch=True),\n"
                      "         dict(type='EvaluationHook', tasks=('retrieval',))]\n"
                      "precision = 'no'\n")
    cmd = [sys.executable, '-m', 'accelerate.commands.launch', '--num_processes', '2', '--num_machines', '1',
           '--multi_gpu', '--main_process_port', str(_free_port()), str(REPO / 'tools' / 'train.py'), str(config),
           '--work-dir', str(tmp_path / 'run'), '--cfg-options', f'data_root={tiny_shards}',
           'train_dataloader.num_workers=2', 'train_dataloader.batch_size=3']
    result = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr[-5000:]
    index = json.loads((tiny_shards / 'index.json').read_text())
    train = index['splits']['train']
    assert len({s['samples'] for s in train['shards']}) > 1   # the shards are of unequal sizes
    ranks = [json.loads((tmp_path / 'run' / f'ids_rank{r}.json').read_text()) for r in (0, 1)]
    per_rank = train['samples'] // 6 * 3   # whole batches of 3, the same number on each rank
    for epoch in ('0', '1'):
        ids = [ranks[0][epoch], ranks[1][epoch]]
        assert len(ids[0]) == len(ids[1]) == per_rank
        assert len(set(ids[0]) | set(ids[1])) == 2 * per_rank   # no sample twice, none on both ranks
    assert ranks[0]['0'] != ranks[0]['1']   # another order in the next epoch
    results = json.loads((tmp_path / 'run' / 'results.json').read_text())   # evaluated on both ranks' shares
    assert 0 < results['retrieval_coarse']['mAP@10'] <= 1
