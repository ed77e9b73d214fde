"""Passing tensors round the ring of processes with gradients (open_clip's ``--loss-dist-impl shift``).

Instead of all-gathering every rank's embeddings at once, each rank holds one other rank's
block at a time: at step ``s`` rank ``r`` holds the block of rank ``r - s``. The backward of
each step sends the gradient of a received block back the way it came, so its owner receives
the sum of every rank's gradient of its rows, as with
:func:`~m5mm.utils.distributed.gather_with_grad`.
"""
from __future__ import annotations

from typing import Iterator, List, Tuple

import torch
import torch.distributed as dist
from torch import Tensor

from .distributed import get_rank, get_world_size, is_distributed, rank_offset


def _send_recv(tensor: Tensor, rows: int, *, to: int, source: int) -> Tensor:
    received = tensor.new_empty((rows,) + tuple(tensor.shape[1:]))
    ops = [dist.P2POp(dist.isend, tensor.contiguous(), to), dist.P2POp(dist.irecv, received, source)]
    for request in dist.batch_isend_irecv(ops):
        request.wait()
    return received


class _Shift(torch.autograd.Function):
    """Send ``x`` to the next rank, receive ``rows`` rows from the previous one."""

    @staticmethod
    def forward(ctx, x: Tensor, rows: int) -> Tensor:  # noqa: D102
        rank, world = get_rank(), get_world_size()
        ctx.sent = x.shape[0]
        return _send_recv(x, rows, to=(rank + 1) % world, source=(rank - 1) % world)

    @staticmethod
    def backward(ctx, grad: Tensor):  # noqa: D102
        rank, world = get_rank(), get_world_size()
        return _send_recv(grad, ctx.sent, to=(rank - 1) % world, source=(rank + 1) % world), None


def ring_blocks(x: Tensor, sizes: List[int]) -> Iterator[Tuple[int, Tensor]]:
    """``(first global row, block)`` of every rank's ``x`` in turn, starting with this rank's own.

    Args:
        x: (n, ...) this rank's rows, with gradient.
        sizes: every rank's n (:func:`~m5mm.utils.distributed.gather_sizes`).

    Every rank must consume all ``world_size`` blocks (each step is a collective exchange).
    """
    rank = get_rank()
    yield rank_offset(sizes), x
    if not is_distributed():
        return
    world = get_world_size()
    block = x
    for step in range(1, world):
        owner = (rank - step) % world
        block = _Shift.apply(block, sizes[owner])
        yield sum(sizes[:owner]), block
