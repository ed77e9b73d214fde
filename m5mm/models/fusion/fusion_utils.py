"""Plumbing shared by the fusion strategies: modality order checks, valid-token masks, the
per-modality token embedding (projection, positions, modality type) and output assembly.

Every strategy masks absent samples and padding with ``valid_mask`` (never attended to), and
:func:`assemble_output` zeroes their outputs, so an absent modality's data can change nothing.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from m5mm.structures import EncoderOutput, FusionOutput


def per_modality(value: Union[int, Mapping[str, int], None], modalities: Sequence[str], default: int,
                 what: str, owner: str) -> Dict[str, int]:
    """An int or a {m: int} dict (missing keys -> ``default``) -> {m: int}."""
    if value is None or isinstance(value, int):
        return {m: default if value is None else value for m in modalities}
    unknown = sorted(set(value) - set(modalities))
    if unknown:
        raise KeyError(f'{owner}: {what} names unknown modalities {unknown}; modalities: {list(modalities)}')
    return {m: int(value.get(m, default)) for m in modalities}


def check_order(owner: str, modalities: Sequence[str], encoded: Mapping[str, EncoderOutput]) -> List[str]:
    """The modalities of ``encoded`` in the strategy's order; errors for unknown or none."""
    unknown = [m for m in encoded if m not in modalities]
    if unknown:
        raise KeyError(f'{owner} was built for {list(modalities)}; got unknown modalities {unknown}')
    order = [m for m in modalities if m in encoded]
    if not order:
        raise ValueError(f'{owner} got no encoded modality')
    return order


def valid_mask(out: EncoderOutput) -> Tensor:
    """(B, N) bool: real tokens of present samples."""
    return out.mask.bool() & out.present.bool()[:, None]


def masked_joint(order: Sequence[str], fused: Mapping[str, Tensor], present: Mapping[str, Tensor],
                 fallback: Tensor) -> Tensor:
    """Mean of the present modalities' vectors {m: (B, D)}; ``fallback`` (B, D) where none is present."""
    flags = torch.stack([present[m].bool() for m in order], dim=1).to(fallback.dtype)   # (B, M)
    total = sum(fused[m] * flags[:, k, None] for k, m in enumerate(order))
    count = flags.sum(dim=1, keepdim=True)
    return torch.where(count > 0, total / count.clamp_min(1.0), fallback)


def assemble_output(order: Sequence[str], encoded: Mapping[str, EncoderOutput], seqs: Mapping[str, Tensor],
                    fallback: Tensor, extras: Optional[Dict[str, Tensor]] = None,
                    joint: Optional[Tensor] = None) -> FusionOutput:
    """Per-modality output sequences {m: (B, N_m, D)} -> :class:`FusionOutput`.

    Tokens of padding and absent samples are zeroed, ``fused[m]`` is the first token (0 when
    absent) and ``joint`` (unless given, (B, D)) the mean of the present modalities' fused
    vectors (``fallback`` (B, D) for a sample without any modality).
    """
    tokens, fused = {}, {}
    for m in order:
        seq = seqs[m]
        tokens[m] = torch.where(valid_mask(encoded[m])[..., None], seq, torch.zeros_like(seq))
        fused[m] = torch.where(encoded[m].present.bool()[:, None], seq[:, 0], torch.zeros_like(seq[:, 0]))
    if joint is None:
        joint = masked_joint(order, fused, {m: encoded[m].present for m in order}, fallback)
    return FusionOutput(tokens=tokens, fused=fused, joint=joint, extras=dict(extras or {}))


class ModalityTokenEmbedding(nn.Module):
    """Encoder tokens of each modality -> fusion width, plus learned positions per modality and
    an optional learned modality-type embedding.

    Args:
        modalities: the modalities, in order (the type-embedding index).
        dim: output width.
        in_dims: encoder token width per modality (default ``dim``: no projection).
        max_tokens: position-table length per modality (int or {m: int}).
        modality_embed: add a learned modality-type embedding.
        owner: name used in error messages.
        init_weights: draw the position and type tables (truncated normal, std 0.02) now; a
            fusion that draws its own tables in another order passes False.
    """

    def __init__(self, *, modalities: Sequence[str], dim: int, in_dims: Optional[Mapping[str, int]] = None,
                 max_tokens: Union[int, Mapping[str, int]] = 256, modality_embed: bool = True,
                 owner: str = 'fusion', init_weights: bool = True) -> None:
        super().__init__()
        self.modalities = list(modalities)
        self.owner = owner
        widths = per_modality(in_dims, self.modalities, dim, 'in_dims', owner)
        self.max_tokens = per_modality(max_tokens, self.modalities, 256, 'max_tokens', owner)
        self.proj = nn.ModuleDict({m: nn.Identity() if widths[m] == dim else nn.Linear(widths[m], dim)
                                   for m in self.modalities})
        self.pos_embed = nn.ParameterDict({m: nn.Parameter(torch.zeros(1, self.max_tokens[m], dim))
                                           for m in self.modalities})
        self.type_embed = nn.Parameter(torch.zeros(len(self.modalities), dim)) if modality_embed else None
        if init_weights:
            for param in [*self.pos_embed.values(), *self.type_tables()]:
                nn.init.trunc_normal_(param, std=0.02)

    def type_tables(self) -> List[nn.Parameter]:
        """The modality-type embedding as a list (empty without one)."""
        return [] if self.type_embed is None else [self.type_embed]

    def forward(self, m: str, out: EncoderOutput) -> Tensor:
        """Modality ``m``'s ``out.tokens`` (B, N, D_m) -> (B, N, dim)."""
        tokens = out.tokens
        if tokens.dim() != 3 or tokens.shape[1] > self.max_tokens[m]:
            raise ValueError(f'{self.owner}: {m!r} has tokens of shape {tuple(tokens.shape)}; expected '
                             f'(B, N, D) with N <= max_tokens[{m!r}] = {self.max_tokens[m]} '
                             f'(raise max_tokens)')
        x = self.proj[m](tokens.to(self.pos_embed[m].dtype)) + self.pos_embed[m][:, :tokens.shape[1]]
        if self.type_embed is not None:
            x = x + self.type_embed[self.modalities.index(m)]
        return x
