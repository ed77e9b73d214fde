"""Multi-process training on CPU through `accelerate launch`: DDP, DeepSpeed ZeRO-2/3, two "nodes".

The runs use a contrastive-only tiny SCALE config in fp32, so 2 ranks x batch B/2 must follow
the single-process run with batch B step by step (global negatives gathered with gradients,
gradients averaged). The data has video for a single training product, so in every step some
rank has no video sample at all: no hang, no unused-parameter error.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from m5mm.checkpoint.manager import latest_checkpoint
from m5mm.checkpoint.weights import load_model_state_dict
from tests.test_engine.planted import plant_in_checkpoint

REPO = Path(__file__).resolve().parents[2]
TRAIN = str(REPO / 'tools' / 'train.py')
pytestmark = pytest.mark.slow
TIMEOUT = 600


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _env() -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE='1', OMP_NUM_THREADS='1',
               PYTHONUNBUFFERED='1')
    env.pop('ACCELERATE_USE_DEEPSPEED', None)
    return env


def _launch(launch_args, config, work_dir, data_root, *extra, background=False, expect_ok=True):
    cmd = [sys.executable, '-m', 'accelerate.commands.launch', *launch_args, TRAIN, str(config),
           '--work-dir', str(work_dir), *extra, '--cfg-options', f'data_root={data_root}']
    if background:
        return subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    result = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert (result.returncode == 0) == expect_ok, \
        f'{" ".join(cmd)} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}'
    return result


def _metrics(work_dir) -> list:
    return [json.loads(line) for line in (Path(work_dir) / 'metrics.jsonl').read_text().splitlines()]


@pytest.fixture(scope='module')
def sparse_video_root(demo_root, tmp_path_factory) -> Path:
    """The demo catalogue with video kept for one training product only."""
    root = tmp_path_factory.mktemp('sparse_video')
    for sub in ('images', 'videos', 'audio'):
        os.symlink(demo_root / sub, root / sub)
    kept = False
    with open(demo_root / 'manifest.jsonl') as src, open(root / 'manifest.jsonl', 'w') as dst:
        for line in src:
            record = json.loads(line)
            if record.get('video') and (kept or record.get('split', 'train') != 'train'):
                record['video'] = None
            kept = kept or bool(record.get('video'))
            dst.write(json.dumps(record) + '\n')
    shutil.copytree(demo_root / 'tokenizer', root / 'tokenizer') if (demo_root / 'tokenizer').exists() else None
    return root


@pytest.fixture(scope='module')
def exact_config(tmp_path_factory) -> Path:
    """Tiny SCALE with only the contrastive loss, in fp32 (bit-for-bit comparable runs)."""
    path = tmp_path_factory.mktemp('cfg') / 'scale_con_tiny.py'
    path.write_text(
        f"_base_ = [{str(REPO / 'configs' / 'scale_5mod_tiny.py')!r}]\n"
        "model = dict(objectives=dict(con=dict(type='InterModalityContrastiveObjective')))\n"
        "precision = 'no'\n"
        "train_cfg = dict(max_epochs=2)\n")
    return path


def _reference(config, data_root, work_dir, batch_size):
    _launch(['--num_processes', '1'], config, work_dir, data_root,
            '--cfg-options', f'train_dataloader.batch_size={batch_size}')


@pytest.fixture(scope='module')
def reference_run(exact_config, sparse_video_root, tmp_path_factory) -> Path:
    work_dir = tmp_path_factory.mktemp('single')
    _reference(exact_config, sparse_video_root, work_dir, 8)
    return work_dir


def _assert_same_run(work_dir, reference, *, rtol=1e-4):
    ours, ref = _metrics(work_dir), _metrics(reference)
    assert [r['step'] for r in ours] == [r['step'] for r in ref]
    for a, b in zip(ours, ref):
        assert a['lr'] == pytest.approx(b['lr'], rel=1e-6)
        assert a['loss_con'] == pytest.approx(b['loss_con'], rel=rtol), (a, b)
    weights = load_model_state_dict(latest_checkpoint(str(work_dir)))
    expected = load_model_state_dict(latest_checkpoint(str(reference)))
    for name, value in expected.items():
        if name in weights:
            torch.testing.assert_close(weights[name], value, rtol=1e-3, atol=1e-4, msg=name)


def _two_rank_args(*extra):
    return ['--num_processes', '2', '--num_machines', '1', '--main_process_port', str(_free_port()), *extra]


def test_ddp_two_processes_match_one(exact_config, sparse_video_root, reference_run, tmp_path):
    _launch(_two_rank_args('--multi_gpu'), exact_config, tmp_path, sparse_video_root,
            '--cfg-options', 'train_dataloader.batch_size=4')
    _assert_same_run(tmp_path, reference_run)


def test_ddp_contrastive_accumulation_and_grad_checkpointing_match_one_plain_process(
        exact_config, sparse_video_root, reference_run, tmp_path):
    """2 ranks x 2 micro-batches of 2, every stack checkpointed (non-reentrant): the contrastive loss over the
    cache gathered across the ranks (with gradients) equals one plain process's batch of 8."""
    _launch(_two_rank_args('--multi_gpu'), exact_config, tmp_path, sparse_video_root,
            '--cfg-options', 'train_dataloader.batch_size=4', 'optim.contrastive_accumulation=2',
            'model.grad_checkpointing=True')
    _assert_same_run(tmp_path, reference_run)


def test_deepspeed_zero2_two_processes_match_one_and_resume(exact_config, sparse_video_root, reference_run,
                                                            tmp_path):
    ds = ['--use_deepspeed', '--zero_stage', '2', '--mixed_precision', 'no']
    _launch(_two_rank_args(*ds), exact_config, tmp_path, sparse_video_root, '--max-steps', '2',
            '--cfg-options', 'train_dataloader.batch_size=4')
    assert _metrics(tmp_path)[-1]['step'] == 2
    _launch(_two_rank_args(*ds), exact_config, tmp_path, sparse_video_root, '--resume',
            '--cfg-options', 'train_dataloader.batch_size=4')
    _assert_same_run(tmp_path, reference_run)
    # DeepSpeed cannot re-partition ZeRO states for another process count: a clear message, early
    failed = _launch(['--num_processes', '1', *ds], exact_config, tmp_path, sparse_video_root, '--resume',
                     expect_ok=False)
    assert 'DeepSpeed ZeRO checkpoint of 2 processes' in failed.stderr and 'load_from=' in failed.stderr
    # a planted pickle in DeepSpeed's own files (meta.json edited to match) is refused, not run
    checkpoint = latest_checkpoint(str(tmp_path))
    marker = tmp_path / 'pwned'
    plant_in_checkpoint(checkpoint, 'pytorch_model/mp_rank_00_model_states.pt', marker)
    failed = _launch(_two_rank_args(*ds), exact_config, tmp_path, sparse_video_root, '--resume', str(checkpoint),
                     '--cfg-options', 'train_dataloader.batch_size=4', expect_ok=False)
    assert 'refuses to load this file' in failed.stderr and 'mp_rank_00_model_states.pt' in failed.stderr
    assert not marker.exists()


def test_deepspeed_zero3_two_processes_match_one(exact_config, sparse_video_root, reference_run, tmp_path):
    _launch(_two_rank_args('--use_deepspeed', '--zero_stage', '3', '--mixed_precision', 'no'), exact_config,
            tmp_path, sparse_video_root, '--cfg-options', 'train_dataloader.batch_size=4')
    _assert_same_run(tmp_path, reference_run)


def test_two_nodes_over_loopback(exact_config, sparse_video_root, reference_run, tmp_path):
    port = str(_free_port())
    nodes = [_launch(['--num_machines', '2', '--num_processes', '2', '--machine_rank', str(rank),
                      '--main_process_ip', '127.0.0.1', '--main_process_port', port, '--use_deepspeed',
                      '--zero_stage', '2', '--mixed_precision', 'no', '--deepspeed_multinode_launcher', 'standard'],
                     exact_config, tmp_path, sparse_video_root, '--cfg-options', 'train_dataloader.batch_size=4',
                     background=True) for rank in (0, 1)]
    outputs = [node.communicate(timeout=TIMEOUT)[0] for node in nodes]
    for rank, (node, output) in enumerate(zip(nodes, outputs)):
        assert node.returncode == 0, f'node {rank} failed:\n{output[-4000:]}'
    assert 'DistributedType.DEEPSPEED' in outputs[0] and '2 processes' in outputs[0]
    _assert_same_run(tmp_path, reference_run)
