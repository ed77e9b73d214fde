"""Late fusion: independent towers, combined only by averaging their vectors (CLIP)."""
from __future__ import annotations

from typing import List, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from m5mm.registry import FUSIONS
from m5mm.structures import EncoderOutput, FusionOutput
from .fusion_utils import check_order, masked_joint, valid_mask


@FUSIONS.register_module()
class LateFusion(nn.Module):
    """Dual/multi-tower late fusion of CLIP (Radford et al., ICML 2021), for any number of towers.

    No cross-modal layer: the towers (the encoders) are trained only by the pairwise
    contrastive objective on their ``pooled`` vectors. The fusion's only parameters are the
    Linear maps of encoders whose width differs from ``dim`` (none when they agree).
    ``tokens[m]`` are the encoder's tokens mapped to ``dim`` (0 at padding and absent samples;
    a masked-modelling head can still read them), ``fused[m]`` is the first (global) token,
    ``joint`` the mean of the present modalities' fused vectors, L2-normalised first when
    ``normalize`` (0 for a sample without any modality).

    Args:
        modalities: the towers' modalities.
        dim: output width (None: the encoders' common width; an error if they differ).
        in_dims: encoder token width per modality (default ``dim``).
        normalize: L2-normalise the fused vectors before averaging them into ``joint``.
    """

    def __init__(self, *, modalities: Sequence[str], dim: Optional[int] = None,
                 in_dims: Optional[Mapping[str, int]] = None, normalize: bool = True) -> None:
        super().__init__()
        if not modalities:
            raise ValueError('LateFusion needs at least one modality')
        self.modalities: List[str] = list(modalities)
        in_dims = dict(in_dims or {})
        unknown = sorted(set(in_dims) - set(self.modalities))
        if unknown:
            raise KeyError(f'LateFusion: in_dims names unknown modalities {unknown}; '
                           f'modalities: {self.modalities}')
        if dim is None:
            widths = set(in_dims.values())
            if len(widths) != 1 or len(in_dims) != len(self.modalities):
                raise ValueError(f'LateFusion: set `dim`; the encoders\' widths do not give one common width '
                                 f'(in_dims={in_dims})')
            dim = widths.pop()
        self.dim = int(dim)
        self.normalize = normalize
        self.proj = nn.ModuleDict({m: nn.Identity() if in_dims.get(m, self.dim) == self.dim
                                   else nn.Linear(in_dims[m], self.dim) for m in self.modalities})

    def forward(self, encoded: Mapping[str, EncoderOutput]) -> FusionOutput:
        """encoded: {m: EncoderOutput with tokens (B, N_m, D_m)} -> FusionOutput (width ``dim``)."""
        order = check_order('LateFusion', self.modalities, encoded)
        tokens, fused = {}, {}
        for m in order:
            out = encoded[m]
            if out.tokens.dim() != 3:
                raise ValueError(f'LateFusion: {m!r} tokens must be (B, N, D), got {tuple(out.tokens.shape)}')
            seq = self.proj[m](out.tokens)
            tokens[m] = torch.where(valid_mask(out)[..., None], seq, torch.zeros_like(seq))
            fused[m] = torch.where(out.present.bool()[:, None], seq[:, 0], torch.zeros_like(seq[:, 0]))
        vectors = {m: F.normalize(fused[m], dim=-1) if self.normalize else fused[m] for m in order}
        fallback = torch.zeros_like(fused[order[0]])
        joint = masked_joint(order, vectors, {m: encoded[m].present for m in order}, fallback)
        return FusionOutput(tokens=tokens, fused=fused, joint=joint)
