"""SCALE's single-stream fusion transformer over all modalities' tokens."""
from __future__ import annotations

from typing import List, Mapping, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from m5mm.models.layers import TransformerEncoder
from m5mm.registry import FUSIONS
from m5mm.structures import EncoderOutput, FusionOutput
from .fusion_utils import ModalityTokenEmbedding, assemble_output, check_order, valid_mask

JOINT_MODES = ('mean', 'cls')
# parameter names of releases before the shared token embedding (``proj.*`` -> ``embed.proj.*``)
EMBED_PARTS = ('proj.', 'pos_embed.', 'type_embed')


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
            raise ValueError(f'{type(self).__name__} needs at least one modality')
        if joint not in JOINT_MODES:
            raise ValueError(f'joint must be one of {JOINT_MODES}, got {joint!r}')
        self.modalities: List[str] = list(modalities)
        self.dim = dim
        self.joint_mode = joint
        self.embed = ModalityTokenEmbedding(modalities=self.modalities, dim=dim, in_dims=in_dims,
                                            max_tokens=max_tokens, modality_embed=modality_embed,
                                            owner=type(self).__name__, init_weights=False)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.transformer = TransformerEncoder(dim=dim, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio,
                                              dropout=dropout)
        # positions, [CLS], type embedding: the order of the random draws since the first release
        for param in [*self.embed.pos_embed.values(), self.cls_token, *self.embed.type_tables()]:
            nn.init.trunc_normal_(param, std=0.02)
        self.register_load_state_dict_pre_hook(_rename_embedding_keys)

    def _embed(self, m: str, out: EncoderOutput) -> Tensor:
        """Modality ``m``'s tokens (B, N, D_m) -> (B, N, dim) with positions (and type)."""
        return self.embed(m, out)

    def forward(self, encoded: Mapping[str, EncoderOutput]) -> FusionOutput:
        """encoded: {m: EncoderOutput with tokens (B, N_m, D_m)} -> FusionOutput (width ``dim``)."""
        order = check_order(type(self).__name__, self.modalities, encoded)
        batch = encoded[order[0]].tokens.shape[0]
        cls = self.cls_token.expand(batch, -1, -1)
        xs = [cls] + [self._embed(m, encoded[m]) for m in order]
        valid = [valid_mask(encoded[m]) for m in order]
        mask = torch.cat([torch.ones(batch, 1, dtype=torch.bool, device=cls.device)] + valid, dim=1)
        out = self.transformer(torch.cat(xs, dim=1), mask)
        seqs, start = {}, 1
        for m in order:
            seqs[m] = out[:, start:start + encoded[m].tokens.shape[1]]
            start += seqs[m].shape[1]
        cls_out = out[:, 0]
        return assemble_output(order, encoded, seqs, fallback=cls_out, extras={'cls': cls_out},
                               joint=cls_out if self.joint_mode == 'cls' else None)


def _rename_embedding_keys(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    """Load a checkpoint written before the token embedding moved under ``embed.``."""
    for key in [k for k in state_dict if k.startswith(prefix) and k[len(prefix):].startswith(EMBED_PARTS)]:
        state_dict[f'{prefix}embed.{key[len(prefix):]}'] = state_dict.pop(key)
