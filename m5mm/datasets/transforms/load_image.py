"""Decode an image file."""
from __future__ import annotations

from typing import Optional

import torch

from m5mm.registry import TRANSFORMS

from .decode import DEFAULT_MAX_PIXELS, decode_image
from .image_size import Size, to_hw


@TRANSFORMS.register_module()
class LoadImage:
    """``results['path']`` -> ``results['pixels']`` (3, H, W) uint8 RGB.

    Args:
        draft_size: (H, W) or int; images are reduced on load to a scale still at least this large:
            JPEGs decoded at a reduced scale (much faster for big photos), other formats box-reduced
            right after decoding. None keeps the full size.
        max_pixels: images with more pixels are refused (``'image too large'``, counted like any
            unreadable media) before they are decoded; None: no cap.
    """

    reads_bytes = True   # decodes ``results['data']`` (a shard member) when present
    build_time = True    # deterministic: may run when shards are built

    def __init__(self, *, draft_size: Optional[Size] = None, max_pixels: Optional[int] = DEFAULT_MAX_PIXELS) -> None:
        self.draft_size = None if draft_size is None else to_hw(draft_size, 'draft_size')
        if max_pixels is not None and (not isinstance(max_pixels, int) or max_pixels <= 0):
            raise ValueError(f'max_pixels must be a positive int or None, got {max_pixels!r}')
        self.max_pixels = max_pixels

    def __call__(self, results: dict) -> dict:
        draft = None if self.draft_size is None else (self.draft_size[1], self.draft_size[0])
        array = decode_image(results['path'], draft_size=draft, data=results.get('data'), max_pixels=self.max_pixels)
        results['pixels'] = torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()
        results['ori_shape'] = tuple(array.shape[:2])
        return results

    def __repr__(self) -> str:
        return f'LoadImage(draft_size={self.draft_size}, max_pixels={self.max_pixels})'
