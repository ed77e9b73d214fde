"""N-stream co-attention fusion: per-modality streams exchanging information by cross-attention
(ViLBERT / LXMERT)."""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from m5mm.models.layers import TransformerBlock
from m5mm.registry import FUSIONS
from m5mm.structures import EncoderOutput, FusionOutput
from .fusion_utils import ModalityTokenEmbedding, assemble_output, check_order, valid_mask


@FUSIONS.register_module()
class CoAttentionFusion(nn.Module):
    """Two-stream co-attention fusion of ViLBERT (Lu et al., NeurIPS 2019) and LXMERT (Tan &
    Bansal, EMNLP 2019), generalised to N streams.

    Every modality keeps its own stream (its own weights). In each of ``depth`` layers,
    stream m runs a pre-LN :class:`~m5mm.models.layers.TransformerBlock` with
    ``cross_attention=True``: self-attention over its own tokens, cross-attention to the
    concatenation of the *other* streams' tokens (previous layer's outputs; padding and absent
    samples masked), feed-forward. A learned, always-valid "null" token leads every cross-
    attention context, so a sample whose other modalities are all absent attends only to it
    (no NaN, no dependence on absent data). With a single modality there is no cross-attention.
    ``fused[m]`` is m's first output token; ``joint`` is the mean of the present modalities'
    fused vectors (0 for a sample without any modality).

    Args:
        modalities: the modalities (streams).
        dim: stream width.
        depth: number of co-attention layers.
        num_heads: attention heads.
        mlp_ratio: feed-forward width / dim (2.0 gives a co-attention block the parameters of a
            plain block with ratio 4).
        dropout: dropout in the blocks.
        in_dims: encoder token width per modality (a Linear projects widths other than ``dim``).
        max_tokens: position-table length per modality (int or {m: int}).
        modality_embed: add a learned modality-type embedding (tells the cross-attention which
            modality a context token comes from).
    """

    def __init__(self, *, modalities: Sequence[str], dim: int = 768, depth: int = 6, num_heads: int = 8,
                 mlp_ratio: float = 4.0, dropout: float = 0.0, in_dims: Optional[Mapping[str, int]] = None,
                 max_tokens: Union[int, Mapping[str, int]] = 256, modality_embed: bool = True) -> None:
        super().__init__()
        if not modalities:
            raise ValueError('CoAttentionFusion needs at least one modality')
        if depth < 1:
            raise ValueError(f'CoAttentionFusion needs depth >= 1, got {depth}')
        self.modalities: List[str] = list(modalities)
        self.dim = dim
        self.embed = ModalityTokenEmbedding(modalities=self.modalities, dim=dim, in_dims=in_dims,
                                            max_tokens=max_tokens, modality_embed=modality_embed,
                                            owner='CoAttentionFusion')
        cross = len(self.modalities) > 1
        self.layers = nn.ModuleList(
            nn.ModuleDict({m: TransformerBlock(dim=dim, num_heads=num_heads, mlp_ratio=mlp_ratio,
                                               dropout=dropout, cross_attention=cross)
                           for m in self.modalities})
            for _ in range(depth))
        self.norms = nn.ModuleDict({m: nn.LayerNorm(dim) for m in self.modalities})
        self.null_token = nn.Parameter(torch.zeros(1, 1, dim)) if cross else None
        if cross:
            nn.init.trunc_normal_(self.null_token, std=0.02)

    def _context(self, m: str, order: Sequence[str], xs: Dict[str, Tensor], valid: Dict[str, Tensor]):
        """(B, 1 + sum N_o, D) null token + the other streams' tokens, and its (B, ...) key mask."""
        batch = xs[m].shape[0]
        others = [o for o in order if o != m]
        null = self.null_token.to(xs[m].dtype).expand(batch, -1, -1)
        always = torch.ones(batch, 1, dtype=torch.bool, device=xs[m].device)
        return (torch.cat([null] + [xs[o] for o in others], dim=1),
                torch.cat([always] + [valid[o] for o in others], dim=1))

    def forward(self, encoded: Mapping[str, EncoderOutput]) -> FusionOutput:
        """encoded: {m: EncoderOutput with tokens (B, N_m, D_m)} -> FusionOutput (width ``dim``)."""
        order = check_order('CoAttentionFusion', self.modalities, encoded)
        xs = {m: self.embed(m, encoded[m]) for m in order}
        valid = {m: valid_mask(encoded[m]) for m in order}
        for layer in self.layers:
            new = {}
            for m in order:
                context, context_mask = self._context(m, order, xs, valid) if self.null_token is not None \
                    else (None, None)
                new[m] = layer[m](xs[m], valid[m], context, context_mask)
            xs = new
        seqs = {m: self.norms[m](xs[m]) for m in order}
        fallback = torch.zeros_like(seqs[order[0]][:, 0])
        return assemble_output(order, encoded, seqs, fallback)
