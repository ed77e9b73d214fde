"""gather_with_grad and the contrastive loss across 2 gloo processes equal one process."""
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from m5mm.registry import HARMONIZERS, OBJECTIVES
from m5mm.utils.distributed import all_gather_tensor, gather_sizes, gather_with_grad, get_rank, get_world_size

MODALITIES = ['text', 'image', 'table']
SPLIT = [5, 3]     # uneven local batches
WEIGHT_MODES = ('logits', 'loss')


def _data():
    gen = torch.Generator().manual_seed(0)
    inputs = {m: torch.randn(8, 6, generator=gen) for m in MODALITIES}
    present = {'text': torch.ones(8, dtype=torch.bool),
               'image': torch.tensor([1, 0, 1, 1, 1, 1, 0, 1], dtype=torch.bool),
               'table': torch.tensor([1, 1, 0, 1, 0, 1, 1, 1], dtype=torch.bool)}
    return inputs, present


def _model():
    torch.manual_seed(0)
    return nn.ModuleDict({m: nn.Linear(6, 4) for m in MODALITIES})


def _loss_and_grads(model, inputs, present, weight_mode):
    harmonizer = HARMONIZERS.build(dict(type='CosineGraphHarmonizer'))
    loss_fn = OBJECTIVES.build(dict(type='InterModalityContrastiveObjective', weight_mode=weight_mode))
    emb = {m: model[m](inputs[m]) for m in MODALITIES}
    out = loss_fn.compute(emb, present, harmonizer(emb, present).weights)
    out['loss_con'].backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    return out, grads


def _worker(rank, world, init_file, result_file):
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=world)
    try:
        # gather_with_grad: gradient of rank r's rows = sum over ranks of d(loss_s)/d(rows)
        x = torch.full((SPLIT[rank], 2), float(rank + 1), requires_grad=True)
        sizes = gather_sizes(x.shape[0])
        y = gather_with_grad(x, sizes)
        coeff = torch.arange(y.numel(), dtype=torch.float).view_as(y) * (rank + 1)
        (y * coeff).sum().backward()
        flags = all_gather_tensor(torch.tensor([rank == 0] * SPLIT[rank]))
        result = {'y': y.detach(), 'x_grad': x.grad, 'flags': flags, 'rank': get_rank(),
                  'world': get_world_size()}
        # the contrastive loss on this rank's share of the batch
        inputs, present = _data()
        start = sum(SPLIT[:rank])
        part = slice(start, start + SPLIT[rank])
        for weight_mode in WEIGHT_MODES:
            model = _model()
            out, _ = _loss_and_grads(model, {m: v[part] for m, v in inputs.items()},
                                     {m: v[part] for m, v in present.items()}, weight_mode)
            for p in model.parameters():   # what DDP does: average gradients over ranks
                dist.all_reduce(p.grad)
                p.grad /= world
            result[weight_mode] = {'out': {k: v.detach() for k, v in out.items()},
                                   'grads': {n: p.grad for n, p in model.named_parameters()}}
        torch.save(result, f'{result_file}.{rank}')
    finally:
        dist.destroy_process_group()


def test_identity_without_process_group():
    x = torch.randn(3, 2, requires_grad=True)
    assert gather_with_grad(x) is x and all_gather_tensor(x) is x
    assert get_rank() == 0 and get_world_size() == 1 and gather_sizes(3) == [3]


def test_two_processes_equal_one(tmp_path):
    init_file, result_file = tmp_path / 'init', tmp_path / 'result'
    mp.start_processes(_worker, args=(2, str(init_file), str(result_file)), nprocs=2, start_method='spawn')
    results = [torch.load(f'{result_file}.{r}') for r in range(2)]
    n = sum(SPLIT)
    for rank, res in enumerate(results):
        assert res['rank'] == rank and res['world'] == 2
        expected_y = torch.cat([torch.full((SPLIT[r], 2), float(r + 1)) for r in range(2)])
        torch.testing.assert_close(res['y'], expected_y)
        start = sum(SPLIT[:rank])
        coeff_sum = torch.arange(n * 2, dtype=torch.float).view(n, 2) * 3   # ranks use factors 1 and 2
        torch.testing.assert_close(res['x_grad'], coeff_sum[start:start + SPLIT[rank]])
        assert res['flags'].tolist() == [True] * SPLIT[0] + [False] * SPLIT[1]
    inputs, present = _data()
    for weight_mode in WEIGHT_MODES:
        ref_out, ref_grads = _loss_and_grads(_model(), inputs, present, weight_mode)
        for res in results:
            for key, value in ref_out.items():   # every rank reports the global values
                torch.testing.assert_close(res[weight_mode]['out'][key], value.detach(), rtol=1e-5, atol=1e-6)
            for name, grad in ref_grads.items():
                torch.testing.assert_close(res[weight_mode]['grads'][name], grad, rtol=1e-4, atol=1e-6)


def _ddp_worker(rank, world, init_file, result_file):
    from torch.nn.parallel import DistributedDataParallel

    from tests.test_models.batch_factory import make_batch
    from tests.test_models.test_pretrainer import _model, _total
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=world)
    try:
        model = DistributedDataParallel(_model(), find_unused_parameters=False)
        optim = torch.optim.SGD(model.parameters(), lr=0.1)
        # rank 0 has no audio at all, rank 1 no table: DDP must neither hang nor complain
        absent = {'audio': [0, 1, 2, 3]} if rank == 0 else {'table': [0, 1, 2, 3], 'image': [1]}
        batch = make_batch(4, seed=rank, absent=absent)
        for _ in range(2):
            torch.manual_seed(rank)
            loss = _total(model(batch))
            optim.zero_grad()
            loss.backward()
            optim.step()
        torch.save({n: p.detach() for n, p in model.module.named_parameters()}, f'{result_file}.{rank}')
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_pretrainer_trains_under_ddp_with_absent_modalities(tmp_path):
    init_file, result_file = tmp_path / 'init', tmp_path / 'result'
    mp.start_processes(_ddp_worker, args=(2, str(init_file), str(result_file)), nprocs=2,
                       start_method='spawn')
    params = [torch.load(f'{result_file}.{r}') for r in range(2)]
    for name, value in params[0].items():   # gradients were averaged: both ranks hold the same weights
        torch.testing.assert_close(params[1][name], value, msg=name)
