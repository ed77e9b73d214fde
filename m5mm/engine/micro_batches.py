"""Splitting a collated batch into micro-batches, and replaying a micro-batch's random state."""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import torch
from torch import Tensor

from m5mm.structures import META_KEY


def batch_size(batch: Dict[str, Any]) -> int:
    """The number of samples of a collated batch (its ``meta['ids']``)."""
    ids = (batch.get(META_KEY) or {}).get('ids')
    if ids is None:
        raise KeyError(f'a batch to split into micro-batches needs {META_KEY}["ids"]; got keys {sorted(batch)}')
    return len(ids)


def micro_batch_sizes(total: int, parts: int) -> List[int]:
    """``total`` samples in ``min(parts, total)`` micro-batches of sizes differing by at most one."""
    parts = max(1, min(parts, total))
    return [total // parts + (i < total % parts) for i in range(parts)]


def _slice(value: Any, total: int, start: int, stop: int) -> Any:
    if isinstance(value, Tensor) and value.dim() > 0 and value.shape[0] == total:
        return value[start:stop]
    if isinstance(value, (list, tuple)) and len(value) == total:
        return type(value)(value[start:stop])
    if isinstance(value, dict):
        return {k: _slice(v, total, start, stop) for k, v in value.items()}
    return value


def split_batch(batch: Dict[str, Any], parts: int) -> List[Dict[str, Any]]:
    """A collated batch of B samples -> up to ``parts`` batches of consecutive samples: every tensor
    (and list) whose first dimension is B is sliced, the rest is shared (padding stays that of the batch)."""
    total = batch_size(batch)
    out, start = [], 0
    for size in micro_batch_sizes(total, parts):
        out.append({k: _slice(v, total, start, start + size) for k, v in batch.items()})
        start += size
    return out


RngState = Tuple[Tensor, List[Tensor]]


def get_rng_state() -> RngState:
    """torch's CPU generator state and the CUDA generators' (none without CUDA)."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    return torch.get_rng_state(), cuda


def set_rng_state(state: RngState) -> None:
    """Restore a :func:`get_rng_state`."""
    cpu, cuda = state
    torch.set_rng_state(cpu)
    if cuda:
        torch.cuda.set_rng_state_all(cuda)
