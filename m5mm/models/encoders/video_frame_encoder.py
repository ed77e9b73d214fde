"""Video encoder on raw frames: a per-frame image encoder + temporal transformer."""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from m5mm.models.builders import build
from m5mm.registry import ENCODERS
from m5mm.structures import EncoderOutput

from .continuous_encoder import ContinuousEncoder
from .encoder_utils import fetch, fetch_mask, fetch_present
from .token_dropout import check_keep, gather_tokens, keep_indices, keep_positions


@ENCODERS.register_module()
class VideoFrameEncoder(ContinuousEncoder):
    """Each frame through an image encoder (its ``pooled`` vector) -> Linear to D -> temporal
    positions + global token + temporal transformer over frames.

    Reads ``frames`` (B, T, 3, H, W), ``frame_mask`` (B, T) bool (all True when missing) and
    ``present`` (B,). Masking replaces whole frame tokens; the target of a frame is the frame
    average-pooled to ``target_size`` x ``target_size`` (F = 3 * target_size**2).

    Args:
        frame_encoder: config of (or an already built) image encoder reading ``pixels``
            (e.g. ``ImagePatchEncoder``; pass ``encoders['image']`` to share the image tower).
        max_frames: frames the temporal position table holds.
        dim, depth, num_heads, mlp_ratio, dropout: the temporal transformer (width D).
        target_size: side of the pooled frame target.
        pooled_proj, pooled_dim: projection of token 0 to ``pooled``.
        image_size: the frames' side, passed to a ``frame_encoder`` config that accepts ``image_size``
            and leaves it unset (the backbone fills it from the video pipeline, see
            :meth:`~m5mm.datasets.transforms.Compose.output_meta`).
        frame_keep: frame dropout (FLIP-style): in training, encode a random ``frame_keep`` share of
            each video's frames (valid frames first; 1 = all), so the frame encoder runs on fewer
            frames. Off in eval mode and in a pass that masks frames (``mask_ratio > 0``).
    """

    #: the data facts the builder passes (see m5mm.models.builders.needed_facts)
    needs = ('image_size',)

    def __init__(self, *, frame_encoder: Union[dict, nn.Module], max_frames: int = 32, dim: int = 768,
                 depth: int = 2, num_heads: int = 12, mlp_ratio: float = 4.0, dropout: float = 0.0,
                 target_size: int = 4, pooled_proj: str = 'identity',
                 pooled_dim: Optional[int] = None, image_size: Union[int, Sequence[int], None] = None,
                 frame_keep: float = 1.0) -> None:
        super().__init__(dim=dim, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio, dropout=dropout,
                         max_tokens=max_frames, pooled_proj=pooled_proj, pooled_dim=pooled_dim)
        if isinstance(frame_encoder, dict):
            frame_encoder = build(frame_encoder, ENCODERS, 'frame_encoder',
                                  None if image_size is None else dict(image_size=image_size))
        self.frame_encoder = frame_encoder
        frame_dim = getattr(self.frame_encoder, 'out_dim', None)
        if frame_dim is None:
            raise ValueError(f'frame_encoder {type(self.frame_encoder).__name__} must expose `out_dim` '
                             f'(the width of its pooled vector)')
        self.frame_proj = nn.Identity() if frame_dim == dim else nn.Linear(frame_dim, dim)
        self.target_size = target_size
        self.frame_keep = check_keep(frame_keep, 'frame_keep')

    @property
    def target_dim(self) -> int:
        """F, the width of the masked-modelling targets (3 channels x target_size^2)."""
        return 3 * self.target_size ** 2

    def forward(self, inputs: Mapping[str, Tensor], mask_ratio: float = 0.0) -> EncoderOutput:
        """inputs: ``frames`` (B, T, 3, H, W), ``frame_mask`` (B, T), ``present`` (B,)
        -> EncoderOutput with 1 + T tokens."""
        name = type(self).__name__
        frames = fetch(inputs, 'frames', '(B, T, C, H, W)', name)
        frame_mask = fetch_mask(inputs, 'frame_mask', frames, name)
        present = fetch_present(inputs, frames.shape[0], name)
        valid = frame_mask & present[:, None]
        pos = None
        if self.training and self.frame_keep < 1.0 and mask_ratio == 0.0:   # frame dropout (see frame_keep)
            ids = keep_indices(valid, self.frame_keep)
            pos = keep_positions(self.positions(frames.shape[1]), ids)
            frames, frame_mask, valid = (gather_tokens(t, ids) for t in (frames, frame_mask, valid))
        flat = rearrange(frames.to(self.dtype), 'b t c h w -> (b t) c h w')
        flat_valid = rearrange(valid, 'b t -> (b t)')
        flat = torch.where(flat_valid[:, None, None, None], flat, 0.0)
        per_frame = self.frame_encoder({'pixels': flat, 'present': flat_valid}).pooled
        x = rearrange(self.frame_proj(per_frame), '(b t) d -> b t d', b=frames.shape[0])
        targets = F.adaptive_avg_pool2d(flat, self.target_size)
        targets = rearrange(targets, '(b t) c h w -> b t (c h w)', b=frames.shape[0])
        return self.encode(x, frame_mask, present, targets, mask_ratio, pos=pos)
