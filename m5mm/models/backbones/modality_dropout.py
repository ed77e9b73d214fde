"""Modality dropout: hide random modalities of random samples during pretraining."""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence

import torch
from torch import Tensor

Inputs = Dict[str, Dict[str, Tensor]]


def drop_modalities(inputs: Mapping[str, Mapping[str, Tensor]], order: Sequence[str], rate: float,
                    generator: Optional[torch.Generator] = None) -> Inputs:
    """Mark each present modality of each sample absent with probability ``rate``, always keeping
    at least one modality of a sample that has any (one of its present modalities, drawn uniformly,
    when every one was dropped). Only the ``present`` flags change; the data stays.

    Args:
        inputs: {m: batch entry with ``present`` (B,) (all present when it has none) and its data}.
        order: the modalities, in a fixed order (the draws follow it).
        rate: drop probability in [0, 1).
        generator: random generator (default: torch's global one).

    Returns:
        {m: a shallow copy of ``inputs[m]`` with the new ``present`` (B,) bool}.
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f'modality dropout rate must be in [0, 1), got {rate}')
    present = torch.stack([_present(inputs[m]) for m in order], dim=1)             # (B, M)
    if rate == 0.0 or not order:
        return {m: dict(inputs[m]) for m in order}
    draw = torch.rand(present.shape, generator=generator).to(present.device)
    kept = present & (draw >= rate)
    # a sample whose modalities all dropped gets back the present one with the largest draw
    lost = present.any(dim=1) & ~kept.any(dim=1)
    rescue = torch.where(present, draw, torch.full_like(draw, -1.0)).argmax(dim=1)
    kept[lost, rescue[lost]] = True
    return {m: dict(inputs[m], present=kept[:, k]) for k, m in enumerate(order)}


def _present(entry: Mapping[str, Tensor]) -> Tensor:
    if 'present' in entry:
        return entry['present'].bool()
    first = next(v for v in entry.values() if isinstance(v, Tensor))
    return torch.ones(first.shape[0], dtype=torch.bool, device=first.device)
