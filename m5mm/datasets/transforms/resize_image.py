"""Resize an image tensor."""
from __future__ import annotations

import torch
from torchvision.transforms.v2 import functional as TF

from m5mm.registry import TRANSFORMS

from .image_size import Size, size_meta, to_hw


@TRANSFORMS.register_module()
class ResizeImage:
    """Resize ``results['pixels']`` (3, H, W) to ``size`` (antialiased bilinear).

    Args:
        size: int (square) or (height, width).
        crop: keep the aspect ratio: resize the short side, then centre-crop to ``size``.
    """

    build_time = True  # deterministic: may run when shards are built

    def __init__(self, *, size: Size = 64, crop: bool = False) -> None:
        self.size = to_hw(size)
        self.crop = crop

    def __call__(self, results: dict) -> dict:
        pixels: torch.Tensor = results['pixels']
        if self.crop:
            height, width = pixels.shape[-2:]
            scale = max(self.size[0] / height, self.size[1] / width)
            target = [max(self.size[0], round(height * scale)), max(self.size[1], round(width * scale))]
            pixels = TF.center_crop(TF.resize(pixels, target, antialias=True), list(self.size))
        else:
            pixels = TF.resize(pixels, list(self.size), antialias=True)
        results['pixels'] = pixels
        return results

    def output_meta(self) -> dict:
        """``image_size`` of the output, for the model's encoder (see :meth:`Compose.output_meta`)."""
        return size_meta(self.size)

    def __repr__(self) -> str:
        return f'ResizeImage(size={self.size}, crop={self.crop})'
