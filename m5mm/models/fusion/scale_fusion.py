"""SCALE's single-stream fusion transformer over all modalities' tokens."""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from m5mm.models.layers import TransformerEncoder
from m5mm.registry import FUSIONS
from m5mm.structures import EncoderOutput, FusionOutput

JOINT_MODES = ('mean', 'cls')


def _per_modality(value: Union[int, Mapping[str, int], None], modalities: Sequence[str], default: int,
                  what: str) -> Dict[str, int]:
    """An int or a {m: int} dict (missing keys -> ``default``) -> {m: int}."""
    if value is None or isinstance(value, int):
        return {m: default if value is None else value for m in modalities}
    unknown = sorted(set(value) - set(modalities))
    if unknown:
        raise KeyError(f'ScaleFusion: {what} names unknown modalities {unknown}; '
                       f'modalities: {list(modalities)}')
    return {m: int(value.get(m, default)) for m in modalities}


@FUSIONS.register_module()
class ScaleFusion(nn.Module):
    """Single-stream fusion (the authors' "joint co-transformer").

    Every modality's encoder tokens are projected to the fusion width (when their width
    differs), get learned positions of their own segment (and, optionally, a modality-type
    embedding; the authors' code has none), and are concatenated after a learned fusion
    [CLS] token that is always valid. A pre-LN :class:`TransformerEncoder` runs over the
    sequence with the key-padding mask (absent samples' and padding tokens are never
    attended to), and the output is split back per modality. ``fused[m]`` is the output at
    modality m's first token; ``joint`` is the mean of the present modalities' fused
    vectors (the fusion [CLS] output for a sample without any modality) or, with
    ``joint='cls'``, the fusion [CLS] output. Outputs of absent samples and padding are 0.

    Args:
        modalities: the modalities it fuses, in sequence order.
        dim: fusion width.
        depth: number of transformer blocks.
        num_heads: attention heads.
        mlp_ratio: feed-forward width / dim.
        dropout: dropout in the blocks.
        in_dims: encoder token width per modality (default ``dim``); a Linear projects
            widths that differ from ``dim``.
        max_tokens: position-table length per modality (int or {m: int}).
        modality_embed: add a learned modality-type embedding to every token.
        joint: 'mean' or 'cls'.
    """

    def __init__(self, *, modalities: Sequence[str], dim: int = 768, depth: int = 6, num_heads: int = 8,
                 mlp_ratio: float = 4.0, dropout: float = 0.0, in_dims: Optional[Mapping[str, int]] = None,
                 max_tokens: Union[int, Mapping[str, int]] = 256, modality_embed: bool = False,
                 joint: str = 'mean') -> None:
        super().__init__()
        if not modalities:
            raise ValueError('ScaleFusion needs at least one modality')
        if joint not in JOINT_MODES:
            raise ValueError(f'joint must be one of {JOINT_MODES}, got {joint!r}')
        self.modalities: List[str] = list(modalities)
        self.dim = dim
        self.joint_mode = joint
        widths = _per_modality(in_dims, self.modalities, dim, 'in_dims')
        self.max_tokens = _per_modality(max_tokens, self.modalities, 256, 'max_tokens')
        self.proj = nn.ModuleDict({m: nn.Identity() if widths[m] == dim else nn.Linear(widths[m], dim)
                                   for m in self.modalities})
        self.pos_embed = nn.ParameterDict({m: nn.Parameter(torch.zeros(1, self.max_tokens[m], dim))
                                           for m in self.modalities})
        self.type_embed = nn.Parameter(torch.zeros(len(self.modalities), dim)) if modality_embed else None
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.transformer = TransformerEncoder(dim=dim, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio,
                                              dropout=dropout)
        extra = [self.type_embed] if modality_embed else []
        for param in [*self.pos_embed.values(), self.cls_token, *extra]:
            nn.init.trunc_normal_(param, std=0.02)

    def _order(self, encoded: Mapping[str, EncoderOutput]) -> List[str]:
        unknown = [m for m in encoded if m not in self.modalities]
        if unknown:
            raise KeyError(f'ScaleFusion was built for {self.modalities}; got unknown modalities {unknown}')
        order = [m for m in self.modalities if m in encoded]
        if not order:
            raise ValueError('ScaleFusion got no encoded modality')
        return order

    def _embed(self, m: str, out: EncoderOutput) -> Tensor:
        tokens = out.tokens
        n = tokens.shape[1]
        if tokens.dim() != 3 or n > self.max_tokens[m]:
            raise ValueError(f'ScaleFusion: {m!r} has tokens of shape {tuple(tokens.shape)}; '
                             f'expected (B, N, D) with N <= max_tokens[{m!r}] = {self.max_tokens[m]} '
                             f'(raise max_tokens)')
        x = self.proj[m](tokens.to(self.cls_token.dtype)) + self.pos_embed[m][:, :n]
        if self.type_embed is not None:
            x = x + self.type_embed[self.modalities.index(m)]
        return x

    def forward(self, encoded: Mapping[str, EncoderOutput]) -> FusionOutput:
        """encoded: {m: EncoderOutput with tokens (B, N_m, D_m)} -> FusionOutput (width ``dim``)."""
        order = self._order(encoded)
        batch = encoded[order[0]].tokens.shape[0]
        cls = self.cls_token.expand(batch, -1, -1)
        xs = [cls] + [self._embed(m, encoded[m]) for m in order]
        valid = {m: encoded[m].mask.bool() & encoded[m].present.bool()[:, None] for m in order}
        mask = torch.cat([torch.ones(batch, 1, dtype=torch.bool, device=cls.device)] +
                         [valid[m] for m in order], dim=1)
        out = self.transformer(torch.cat(xs, dim=1), mask)
        tokens, fused, start = {}, {}, 1
        for m in order:
            n = encoded[m].tokens.shape[1]
            seg = out[:, start:start + n]
            tokens[m] = torch.where(valid[m][..., None], seg, torch.zeros_like(seg))
            fused[m] = torch.where(encoded[m].present.bool()[:, None], seg[:, 0], torch.zeros_like(seg[:, 0]))
            start += n
        cls_out = out[:, 0]
        return FusionOutput(tokens=tokens, fused=fused, joint=self._joint(order, encoded, fused, cls_out),
                            extras={'cls': cls_out})

    def _joint(self, order, encoded, fused, cls_out: Tensor) -> Tensor:
        if self.joint_mode == 'cls':
            return cls_out
        present = torch.stack([encoded[m].present.bool() for m in order], dim=1).to(cls_out.dtype)  # (B, M)
        total = sum(fused[m] * present[:, k, None] for k, m in enumerate(order))
        count = present.sum(dim=1, keepdim=True)
        return torch.where(count > 0, total / count.clamp_min(1.0), cls_out)
