"""Random draws of the objectives (masking, negatives), from a generator or torch's global RNG."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor


def random_like(shape, *, device: torch.device, generator: Optional[torch.Generator] = None) -> Tensor:
    """Uniform [0, 1) noise from ``generator`` (or torch's global RNG), placed on ``device``."""
    gen_device = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=gen_device).to(device)


def random_ints(high: int, shape, *, device: torch.device,
                generator: Optional[torch.Generator] = None) -> Tensor:
    """Uniform integers in [0, high) from ``generator`` (or the global RNG), on ``device``."""
    gen_device = generator.device if generator is not None else device
    return torch.randint(high, shape, generator=generator, device=gen_device).to(device)
