"""ViT-style image encoder on raw pixels."""
from __future__ import annotations

from typing import Mapping, Optional

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from m5mm.registry import ENCODERS
from m5mm.structures import EncoderOutput

from .continuous_encoder import ContinuousEncoder
from .encoder_utils import EncoderInputError, fetch, fetch_present
from .token_dropout import check_keep, gather_tokens, keep_indices, keep_positions


def cell_targets(pixels: Tensor, grid_h: int, grid_w: int, cell_grid: Optional[int]) -> Tensor:
    """Masked-modelling targets of an image cut in grid_h x grid_w cells.

    Args:
        pixels: (B, C, H, W).
        cell_grid: each cell average-pooled to cell_grid x cell_grid values per channel;
            None keeps the cell's pixels (H and W must then divide by the grid).

    Returns:
        (B, grid_h * grid_w, F) with F = C * cell_grid**2 (or C * cell pixels), row-major cells.
    """
    if cell_grid is not None:
        pixels = F.adaptive_avg_pool2d(pixels, (grid_h * cell_grid, grid_w * cell_grid))
    return rearrange(pixels, 'b c (h p1) (w p2) -> b (h w) (p1 p2 c)', h=grid_h, w=grid_w)


@ENCODERS.register_module()
class ImagePatchEncoder(ContinuousEncoder):
    """Patch embedding (a strided conv) + learned positions + transformer.

    Reads ``pixels`` (B, C, H, W) and ``present`` (B,). H and W must be multiples of
    ``patch_size``; another size than ``image_size`` interpolates the position table.
    Returns 1 + (H/p)(W/p) tokens; the masked-modelling target of a patch is its pixels
    (``target_grid=None``, F = C p^2) or its pixels average-pooled to
    ``target_grid`` x ``target_grid`` (F = C target_grid^2).

    Args:
        image_size: side of the images the position table is made for; left unset in a config, the
            backbone takes it from the image pipeline (``ResizeImage(size=...)``), else 224.
        patch_size: side p of a square patch.
        in_channels: C.
        dim, depth, num_heads, mlp_ratio, dropout: the transformer (width D).
        target_grid: see above.
        pooled_proj, pooled_dim: projection of token 0 to ``pooled`` (see ``build_projection``).
        patch_keep: patch dropout (FLIP): in training, encode a random ``patch_keep`` share of each
            image's patches (0.25-0.5 in FLIP; 1 = all). Off in eval mode and in a pass that masks
            patches (``mask_ratio > 0``: masked-feature regression predicts the masked patches from
            the others, and its targets and labels follow every patch).
    """

    #: the data facts the builder passes (see m5mm.models.builders.needed_facts)
    needs = ('image_size',)

    def __init__(self, *, image_size: int = 224, patch_size: int = 16, in_channels: int = 3, dim: int = 768,
                 depth: int = 6, num_heads: int = 12, mlp_ratio: float = 4.0, dropout: float = 0.0,
                 target_grid: Optional[int] = None, pooled_proj: str = 'identity',
                 pooled_dim: Optional[int] = None, patch_keep: float = 1.0) -> None:
        if not isinstance(image_size, int):
            raise ValueError(f'ImagePatchEncoder needs square images; image_size={image_size!r} (resize the '
                             f'pipeline to a square size)')
        if image_size % patch_size:
            raise ValueError(f'image_size {image_size} must be a multiple of patch_size {patch_size}')
        self.grid = image_size // patch_size
        super().__init__(dim=dim, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio, dropout=dropout,
                         max_tokens=self.grid ** 2, pooled_proj=pooled_proj, pooled_dim=pooled_dim)
        self.patch_size = patch_size
        self.in_channels = in_channels
        self.target_grid = target_grid
        self.patch_embed = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)
        self.patch_keep = check_keep(patch_keep, 'patch_keep')

    @property
    def target_dim(self) -> int:
        """F, the width of the masked-modelling targets."""
        cell = self.target_grid if self.target_grid else self.patch_size
        return self.in_channels * cell ** 2

    def forward(self, inputs: Mapping[str, Tensor], mask_ratio: float = 0.0) -> EncoderOutput:
        """inputs: ``pixels`` (B, C, H, W), ``present`` (B,) -> EncoderOutput with 1 + (H/p)(W/p) tokens."""
        name = type(self).__name__
        pixels = fetch(inputs, 'pixels', '(B, C, H, W)', name)
        _, channels, height, width = pixels.shape
        if channels != self.in_channels or height % self.patch_size or width % self.patch_size:
            raise EncoderInputError(f'{name}: pixels must be (B, {self.in_channels}, H, W) with H and W '
                                    f'multiples of patch_size {self.patch_size}, got {tuple(pixels.shape)}')
        present = fetch_present(inputs, pixels.shape[0], name)
        pixels = torch.where(present[:, None, None, None], pixels.to(self.dtype), 0.0)
        gh, gw = height // self.patch_size, width // self.patch_size
        x = rearrange(self.patch_embed(pixels), 'b d h w -> b (h w) d')
        pos = self.grid_positions(self.grid, gh, gw)
        targets = cell_targets(pixels, gh, gw, self.target_grid)
        token_mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        if self.training and self.patch_keep < 1.0 and mask_ratio == 0.0:
            ids = keep_indices(token_mask & present[:, None], self.patch_keep)
            x, targets, token_mask = (gather_tokens(t, ids) for t in (x, targets, token_mask))
            pos = keep_positions(pos, ids)
        return self.encode(x, token_mask, present, targets, mask_ratio, pos=pos)
