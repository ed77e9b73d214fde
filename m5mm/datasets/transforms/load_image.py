"""Decode an image file."""
from __future__ import annotations

from typing import Optional

import torch

from m5mm.registry import TRANSFORMS

from .decode import decode_image
from .image_size import Size, to_hw


@TRANSFORMS.register_module()
class LoadImage:
    """``results['path']`` -> ``results['pixels']`` (3, H, W) uint8 RGB.

    Args:
        draft_size: (H, W) or int; JPEGs are decoded at a reduced scale that is still at least
            this large (much faster for big photos). None decodes at full size.
    """

    reads_bytes = True   # decodes ``results['data']`` (a shard member) when present
    build_time = True    # deterministic: may run when shards are built

    def __init__(self, *, draft_size: Optional[Size] = None) -> None:
        self.draft_size = None if draft_size is None else to_hw(draft_size, 'draft_size')

    def __call__(self, results: dict) -> dict:
        draft = None if self.draft_size is None else (self.draft_size[1], self.draft_size[0])
        array = decode_image(results['path'], draft_size=draft, data=results.get('data'))
        results['pixels'] = torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()
        results['ori_shape'] = tuple(array.shape[:2])
        return results

    def __repr__(self) -> str:
        return f'LoadImage(draft_size={self.draft_size})'
