"""Encoder of pre-extracted features (M5Product region / frame / audio features)."""
from __future__ import annotations

from typing import Mapping, Optional

from torch import Tensor, nn

from m5mm.registry import ENCODERS
from m5mm.structures import EncoderOutput

from .continuous_encoder import ContinuousEncoder
from .encoder_utils import EncoderInputError, fetch, fetch_mask, fetch_present, zero_invalid


@ENCODERS.register_module()
class FeatureEncoder(ContinuousEncoder):
    """Features -> Linear + LayerNorm (+ box Linear + LayerNorm) -> tokens + positions + transformer.

    Reads ``feats`` (B, N, F), ``feat_mask`` (B, N) bool (all True when missing), ``present``
    (B,) and, when ``box_dim > 0``, ``boxes`` (B, N, box_dim) (e.g. the 5-d region box
    x1, y1, x2, y2, area). The masked-modelling target of a token is its input feature vector.
    One class serves image regions, video clips and audio features.

    Args:
        feat_dim: F.
        box_dim: width of the per-token box features (0: none).
        max_tokens: tokens the position table holds.
        dim, depth, num_heads, mlp_ratio, dropout: the transformer (width D).
        pooled_proj, pooled_dim: projection of token 0 to ``pooled``.
    """

    #: the data facts the builder passes (see m5mm.models.builders.needed_facts)
    needs = ()

    def __init__(self, *, feat_dim: int, box_dim: int = 0, max_tokens: int = 64, dim: int = 768,
                 depth: int = 6, num_heads: int = 12, mlp_ratio: float = 4.0, dropout: float = 0.0,
                 pooled_proj: str = 'identity', pooled_dim: Optional[int] = None) -> None:
        super().__init__(dim=dim, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio, dropout=dropout,
                         max_tokens=max_tokens, pooled_proj=pooled_proj, pooled_dim=pooled_dim)
        self.feat_dim = feat_dim
        self.box_dim = box_dim
        self.embed = nn.Sequential(nn.Linear(feat_dim, dim), nn.LayerNorm(dim))
        self.box_embed = nn.Sequential(nn.Linear(box_dim, dim), nn.LayerNorm(dim)) if box_dim else None

    def _checked(self, inputs: Mapping[str, Tensor], key: str, width: int) -> Tensor:
        name = type(self).__name__
        value = fetch(inputs, key, f'(B, N, {width})', name)
        if value.shape[2] != width:
            raise EncoderInputError(f'{name}: {key} must be (B, N, {width}), got {tuple(value.shape)}')
        return value.to(self.dtype)

    @property
    def target_dim(self) -> int:
        """F, the width of the masked-modelling targets (the input feature)."""
        return self.feat_dim

    def forward(self, inputs: Mapping[str, Tensor], mask_ratio: float = 0.0) -> EncoderOutput:
        """inputs: ``feats`` (B, N, F), ``feat_mask`` (B, N), [``boxes`` (B, N, box_dim)], ``present`` (B,)
        -> EncoderOutput with 1 + N tokens."""
        name = type(self).__name__
        feats = self._checked(inputs, 'feats', self.feat_dim)
        feat_mask = fetch_mask(inputs, 'feat_mask', feats, name)
        present = fetch_present(inputs, feats.shape[0], name)
        valid = feat_mask & present[:, None]
        feats = zero_invalid(feats, valid)
        x = self.embed(feats)
        if self.box_embed is not None:
            boxes = self._checked(inputs, 'boxes', self.box_dim)
            x = x + self.box_embed(zero_invalid(boxes, valid))
        return self.encode(x, feat_mask, present, feats, mask_ratio)
