"""Single-stream fusion: one transformer over every modality's tokens (VisualBERT / VL-BERT / UNITER)."""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Union

from m5mm.registry import FUSIONS
from .scale_fusion import ScaleFusion


@FUSIONS.register_module()
class SingleStreamFusion(ScaleFusion):
    """Single-stream fusion as in VisualBERT (Li et al., 2019), VL-BERT (Su et al., ICLR 2020)
    and UNITER (Chen et al., ECCV 2020), generalised to any number of modalities.

    The present modalities' tokens are concatenated after a fusion [CLS] token and run through
    one transformer with a key-padding mask (absent samples and padding are never attended
    to). It is SCALE's fusion transformer with a modality-type (segment) embedding on by
    default, as those models have; what sets the published models apart is the objective
    (masked modelling; UNITER adds image-text matching, see ``MatchingObjective``). Outputs:
    ``fused[m]`` = output at m's first token, ``joint`` = mean of the present ``fused``
    vectors (the [CLS] output for a sample without any modality, or always with
    ``joint='cls'``), ``extras['cls']`` = the [CLS] output.

    Args: those of :class:`ScaleFusion`, with ``modality_embed`` (the segment embedding) on by
    default.
    """

    def __init__(self, *, modalities: Sequence[str], dim: int = 768, depth: int = 6, num_heads: int = 8,
                 mlp_ratio: float = 4.0, dropout: float = 0.0, in_dims: Optional[Mapping[str, int]] = None,
                 max_tokens: Union[int, Mapping[str, int]] = 256, modality_embed: bool = True,
                 joint: str = 'mean') -> None:
        super().__init__(modalities=modalities, dim=dim, depth=depth, num_heads=num_heads,
                         mlp_ratio=mlp_ratio, dropout=dropout, in_dims=in_dims, max_tokens=max_tokens,
                         modality_embed=modality_embed, joint=joint)
