"""Run a loss computation on 2 gloo processes, each on its share of one batch, as DDP would."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, List, Sequence, Tuple

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _average(grads):
    """All-reduce and divide by the world size, what DDP does to every gradient (a tensor or a dict of them)."""
    for grad in (grads.values() if isinstance(grads, dict) else [grads]):
        dist.all_reduce(grad)
        grad /= dist.get_world_size()
    return grads


def _worker(rank: int, world: int, fn: Callable, split: Sequence[int], init_file: str, result_file: str) -> None:
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=world)
    try:
        out, grads = fn(slice(sum(split[:rank]), sum(split[:rank + 1])))
        torch.save((out, _average(grads)), f'{result_file}.{rank}')
    finally:
        dist.destroy_process_group()


def run_on_two_ranks(fn: Callable, tmp_path: Path, split: Sequence[int] = (5, 3)) -> List[Tuple]:
    """``fn(part)`` -> ``(outputs, gradients)`` for the samples ``part`` of the batch (a module-level function:
    the processes are spawned). Rank r runs it on the r-th ``split`` of the batch; each rank's gradients are
    averaged over the ranks. Returns every rank's ``(outputs, gradients)``."""
    init_file, result_file = tmp_path / 'init', tmp_path / 'result'
    mp.start_processes(_worker, args=(len(split), fn, tuple(split), str(init_file), str(result_file)),
                       nprocs=len(split), start_method='spawn')
    return [torch.load(f'{result_file}.{rank}') for rank in range(len(split))]
