"""Cross-process helpers for objectives that look at the whole global batch.

Every function is the identity (or the obvious local answer) when ``torch.distributed`` is
not initialised, so the same loss code runs in one process, under DDP and under DeepSpeed.

``gather_with_grad`` concatenates every rank's tensor along dim 0 and lets the gradient flow
back to each rank's own part: in backward, the gradients of the whole gathered tensor are
summed over ranks (every rank's loss may depend on every rank's rows) and each rank keeps its
slice. Ranks may hold different numbers of rows (a smaller last batch): sizes are exchanged
first and tensors padded for the collective.
"""
from __future__ import annotations

from typing import Any, List, Optional

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ['unwrap_model', 'is_distributed', 'get_rank', 'get_world_size', 'gather_sizes', 'rank_offset',
           'all_gather_tensor', 'gather_with_grad', 'all_reduce_sum', 'agree_on_error']


def unwrap_model(model: Any) -> Any:
    """The model inside DDP / DeepSpeed / ``torch.compile`` wrappers (m5mm's one way to unwrap; the same as
    ``Accelerator.unwrap_model``, without needing the accelerator)."""
    from accelerate.utils import extract_model_from_parallel
    return extract_model_from_parallel(model) if isinstance(model, torch.nn.Module) else model


def is_distributed() -> bool:
    """Whether a default process group with more than one rank is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    """This process's rank (0 when not distributed)."""
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    """Number of processes (1 when not distributed)."""
    return dist.get_world_size() if is_distributed() else 1


def gather_sizes(n: int, device: Optional[torch.device] = None) -> List[int]:
    """Every rank's number of rows ``n``, in rank order."""
    if not is_distributed():
        return [n]
    local = torch.tensor([n], dtype=torch.long, device=device)
    sizes = [torch.zeros_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, local)
    return [int(s.item()) for s in sizes]


def rank_offset(sizes: List[int]) -> int:
    """Index of this rank's first row in a tensor gathered with ``sizes``."""
    return sum(sizes[:get_rank()])


def _all_gather_padded(x: Tensor, sizes: List[int]) -> Tensor:
    """all_gather of tensors whose dim 0 differs between ranks -> (sum(sizes), ...)."""
    longest = max(sizes)
    padded = x.new_zeros((longest,) + tuple(x.shape[1:]))
    padded[:x.shape[0]] = x
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([part[:size] for part, size in zip(parts, sizes)])


def all_gather_tensor(x: Tensor, sizes: Optional[List[int]] = None) -> Tensor:
    """Every rank's ``x`` concatenated along dim 0, without gradient (bool tensors allowed).

    Args:
        x: (n, ...) this rank's rows.
        sizes: every rank's ``n`` when already known (saves one collective).

    Returns:
        (sum of all ranks' n, ...) tensor; ``x`` itself when not distributed.
    """
    if not is_distributed():
        return x
    sizes = sizes if sizes is not None else gather_sizes(x.shape[0], x.device)
    if x.dtype == torch.bool:  # gloo has no bool collectives
        return _all_gather_padded(x.to(torch.uint8), sizes).bool()
    return _all_gather_padded(x.detach(), sizes)


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums the gathered gradient over ranks and keeps the local slice."""

    @staticmethod
    def forward(ctx, x: Tensor, sizes: List[int]) -> Tensor:  # noqa: D102
        ctx.sizes = sizes
        ctx.offset = rank_offset(sizes)
        return _all_gather_padded(x, sizes)

    @staticmethod
    def backward(ctx, grad: Tensor):  # noqa: D102
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        local = ctx.sizes[get_rank()]
        return grad[ctx.offset:ctx.offset + local], None


def gather_with_grad(x: Tensor, sizes: Optional[List[int]] = None) -> Tensor:
    """Every rank's ``x`` concatenated along dim 0, the gradient flowing back to the local part.

    Args:
        x: (n, ...) this rank's rows (n may differ between ranks).
        sizes: every rank's ``n`` when already known (see :func:`gather_sizes`).

    Returns:
        (sum of all ranks' n, ...); this rank's rows start at ``rank_offset(sizes)``. When not
        distributed, ``x`` itself.
    """
    if not is_distributed():
        return x
    sizes = sizes if sizes is not None else gather_sizes(x.shape[0], x.device)
    return _GatherWithGrad.apply(x, sizes)


def all_reduce_sum(x: Tensor) -> Tensor:
    """Sum of ``x`` over ranks, without gradient (``x`` detached when not distributed)."""
    x = x.detach()
    if not is_distributed():
        return x
    x = x.clone()
    dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x


def rank_share_loss(share: Tensor, total: Tensor) -> Tensor:
    """The loss whose value is the global ``total`` (already summed over ranks, no gradient) and whose gradient
    is ``world_size`` times that of this rank's ``share`` of it: DDP averages gradients over ranks, so the
    update is that of the global loss. ``share`` itself when not distributed."""
    if not is_distributed():
        return share
    scaled = share * get_world_size()
    return scaled - scaled.detach() + total


def agree_on_error(error: Optional[str]) -> Optional[str]:
    """The lowest rank's error message, or None when no rank has one: every rank gets the same answer,
    so all of them stop (or go on) together instead of some waiting forever in a collective."""
    if not is_distributed():
        return error
    errors: List[Optional[str]] = [None] * get_world_size()
    dist.all_gather_object(errors, error)
    return next((e for e in errors if e), None)
