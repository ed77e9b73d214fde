"""Hybrid fusion: per-modality transformer layers, then single-stream cross-modal layers (CAPTURE)."""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Union

from torch import Tensor, nn

from m5mm.models.layers import TransformerEncoder
from m5mm.registry import FUSIONS
from m5mm.structures import EncoderOutput
from .fusion_utils import valid_mask
from .scale_fusion import ScaleFusion


@FUSIONS.register_module()
class HybridFusion(ScaleFusion):
    """Hybrid fusion in the style of CAPTURE (Zhan et al., "Product1M", ICCV 2021), the
    M5Product authors' earlier product-retrieval model, generalised to any number of modalities.

    Each modality's tokens (projected to ``dim``, with its own positions and a modality-type
    embedding) first pass ``intra_depth`` modality-specific transformer layers (self-attention
    within the modality only), then ``depth`` cross-modal layers over the concatenation of all
    modalities after a fusion [CLS] token (the single-stream part, shared with
    :class:`ScaleFusion`). CAPTURE's co-attention "cross transformer" is folded into the
    single-stream layers. Trained with contrastive + masked objectives. Masks as in
    :class:`ScaleFusion`: absent samples and padding are never attended to and output 0.

    Args:
        modalities: the modalities it fuses, in sequence order.
        dim: fusion width.
        depth: number of cross-modal (single-stream) blocks.
        intra_depth: number of per-modality blocks (>= 1).
        num_heads: attention heads.
        mlp_ratio: feed-forward width / dim.
        dropout: dropout in the blocks.
        in_dims: encoder token width per modality (a Linear projects widths other than ``dim``).
        max_tokens: position-table length per modality (int or {m: int}).
        modality_embed: add a learned modality-type embedding.
        joint: 'mean' or 'cls' (see :class:`ScaleFusion`).
    """

    def __init__(self, *, modalities: Sequence[str], dim: int = 768, depth: int = 3, intra_depth: int = 3,
                 num_heads: int = 8, mlp_ratio: float = 4.0, dropout: float = 0.0,
                 in_dims: Optional[Mapping[str, int]] = None, max_tokens: Union[int, Mapping[str, int]] = 256,
                 modality_embed: bool = True, joint: str = 'mean') -> None:
        super().__init__(modalities=modalities, dim=dim, depth=depth, num_heads=num_heads,
                         mlp_ratio=mlp_ratio, dropout=dropout, in_dims=in_dims, max_tokens=max_tokens,
                         modality_embed=modality_embed, joint=joint)
        if intra_depth < 1:
            raise ValueError(f'HybridFusion needs intra_depth >= 1, got {intra_depth} '
                             f'(use SingleStreamFusion for no per-modality layers)')
        self.intra = nn.ModuleDict({
            m: TransformerEncoder(dim=dim, depth=intra_depth, num_heads=num_heads, mlp_ratio=mlp_ratio,
                                  dropout=dropout) for m in self.modalities})

    def _embed(self, m: str, out: EncoderOutput) -> Tensor:
        """Embedded tokens of ``m`` (B, N, dim) through its per-modality layers."""
        return self.intra[m](self.embed(m, out), valid_mask(out))
