"""Scale and standardise an image tensor."""
from __future__ import annotations

from typing import Sequence

import torch

from m5mm.registry import TRANSFORMS

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize(pixels: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """(..., 3, H, W) uint8 (0..255) or float (0..1) -> float32 ``(x - mean) / std`` per channel."""
    pixels = pixels.float() / 255.0 if pixels.dtype == torch.uint8 else pixels.float()
    mean_t = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
    return (pixels - mean_t) / std_t


@TRANSFORMS.register_module()
class NormalizeImage:
    """``results[key]`` (..., 3, H, W) -> float32, scaled to [0, 1] then standardised.

    Args:
        mean: per-channel mean (ImageNet by default).
        std: per-channel standard deviation.
        key: the results entry to normalise (``'frames'`` for video frames).
    """

    def __init__(self, *, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 key: str = 'pixels') -> None:
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f'mean and std need 3 values (std > 0), got {mean}, {std}')
        self.mean = tuple(mean)
        self.std = tuple(std)
        self.key = key

    def __call__(self, results: dict) -> dict:
        results[self.key] = normalize(results[self.key], self.mean, self.std)
        return results

    def __repr__(self) -> str:
        return f'NormalizeImage(mean={self.mean}, std={self.std}, key={self.key!r})'
