"""FSDP2 checkpoints: 2 CPU processes (gloo) shard a tiny SCALE model with ``fully_shard`` (each transformer
block and BERT layer a unit, as configs/accelerate/FSDP.yaml wraps it), gather the full state into the
format-2 files (safetensors + weights-only optimizer file) and resume from them exactly.

Accelerate itself enables FSDP only on GPUs (see m5mm.utils.accelerator.FSDP_NEEDS_GPU), so these runs
call ``fully_shard`` directly; the checkpoint code they test is what the trainer runs under FSDP.
"""
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from m5mm.utils.accelerator import FSDP_NEEDS_GPU, build_accelerator
from m5mm.checkpoint.fsdp_state import gather_full_state, is_fsdp2, load_full_state
from m5mm.checkpoint.safe_load import load_tensor_file
from m5mm.checkpoint.weights import load_safetensors, save_safetensors

pytestmark = pytest.mark.slow
STEPS, SAVE_AT = 3, 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _sharded(seed: int):
    from torch.distributed.fsdp import fully_shard
    from transformers.models.bert.modeling_bert import BertLayer

    from m5mm.models.builders import build_model
    from m5mm.models.layers import TransformerBlock
    from tests.test_models.batch_factory import tiny_data_meta, tiny_encoder_cfgs
    torch.manual_seed(seed)
    model = build_model(dict(type='ScalePretrainer', encoders=tiny_encoder_cfgs(32),
                             fusion=dict(type='ScaleFusion', dim=32, depth=1, num_heads=2)), tiny_data_meta())
    for module in model.modules():
        if isinstance(module, (TransformerBlock, BertLayer)):
            fully_shard(module)
    fully_shard(model)
    return model, torch.optim.AdamW(model.parameters(), lr=1e-3)


def _step(model, optimizer, rank: int, step: int) -> float:
    from tests.test_models.batch_factory import make_batch
    torch.manual_seed(100 * step + rank)       # the masking draws, as a resumed run restores them
    out = model(make_batch(4, seed=10 * step + rank))
    loss = sum(v for k, v in out.items() if k.startswith('loss'))
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return loss.item()


def _worker(rank: int, port: int, folder: str, results) -> None:
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=2)
    torch.set_num_threads(1)
    try:
        model, optimizer = _sharded(seed=0)
        assert is_fsdp2(model)
        losses = []
        for step in range(STEPS):
            losses.append(_step(model, optimizer, rank, step))
            if step + 1 == SAVE_AT:
                model_state, optimizer_state = gather_full_state(model, optimizer)
                if rank == 0:
                    save_safetensors(model_state, os.path.join(folder, 'model.safetensors'))
                    torch.save(optimizer_state, os.path.join(folder, 'optimizer.pt'))
                dist.barrier()
        final, _ = gather_full_state(model, optimizer)       # the full state is on process 0 only
        resumed, optimizer = _sharded(seed=1)       # other initial weights: everything must come from the files
        load_full_state(resumed, optimizer, load_safetensors(os.path.join(folder, 'model.safetensors')),
                        load_tensor_file(os.path.join(folder, 'optimizer.pt')))
        resumed_losses = [_step(resumed, optimizer, rank, step) for step in range(SAVE_AT, STEPS)]
        resumed_final, _ = gather_full_state(resumed, optimizer)
        results[rank] = dict(losses=losses, resumed=resumed_losses, final=final, resumed_final=resumed_final,
                             saved_names=sorted(model_state))
    finally:
        dist.destroy_process_group()


def test_fsdp2_full_state_checkpoint_resumes_exactly(tmp_path):
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_worker, args=(_free_port(), str(tmp_path), results), nprocs=2)
        results = dict(results)
    from m5mm.models.builders import build_model
    from tests.test_models.batch_factory import tiny_data_meta, tiny_encoder_cfgs
    plain = build_model(dict(type='ScalePretrainer', encoders=tiny_encoder_cfgs(32),
                             fusion=dict(type='ScaleFusion', dim=32, depth=1, num_heads=2)), tiny_data_meta())
    assert results[0]['saved_names'] == sorted(plain.state_dict())   # the names of an unsharded model
    plain.load_state_dict(load_safetensors(tmp_path / 'model.safetensors'))   # loads without FSDP
    for rank in (0, 1):
        got = results[rank]
        assert got['resumed'] == got['losses'][SAVE_AT:]                   # bit-equal losses after resume
    final, resumed_final = results[0]['final'], results[0]['resumed_final']
    assert sorted(final) == sorted(plain.state_dict())
    for name, value in final.items():
        assert torch.equal(resumed_final[name], value), name


def test_fsdp_launch_without_gpu_fails_clearly(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip('needs a machine without a GPU')
    monkeypatch.setenv('ACCELERATE_USE_FSDP', 'true')
    with pytest.raises(RuntimeError, match='Accelerate turns a run into FSDP only from a GPU'):
        build_accelerator(precision='no')
    assert 'DDP.yaml' in FSDP_NEEDS_GPU
