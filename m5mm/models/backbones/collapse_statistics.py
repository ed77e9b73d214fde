"""How spread out each modality's embeddings are over a batch: the collapse monitor's numbers."""
from __future__ import annotations

from typing import Dict, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

#: output keys: ``spread_cos_<m>`` (mean pairwise cosine) and ``spread_std_<m>`` (mean per-dim std)
COS_PREFIX, STD_PREFIX = 'spread_cos_', 'spread_std_'


@torch.no_grad()
def embedding_spread(x: Tensor) -> Dict[str, Tensor]:
    """Spread of N vectors (N, D): ``cos``, the mean cosine over the N(N-1) ordered pairs of
    different vectors (1 = every vector points the same way: collapsed), and ``std``, the per-dimension
    standard deviation over the N vectors (unbiased) averaged over the D dimensions. NaN when N < 2."""
    x = x.detach().float()
    n = x.shape[0]
    if n < 2:
        nan = torch.tensor(float('nan'), device=x.device)
        return {'cos': nan, 'std': nan}
    unit = F.normalize(x, dim=-1)
    total = unit.sum(dim=0)
    cos = ((total @ total) - (unit * unit).sum()) / (n * (n - 1))
    return {'cos': cos, 'std': x.std(dim=0).mean()}


@torch.no_grad()
def modality_spread(embeddings: Mapping[str, Tensor], present: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """{m: (B, D)} embeddings and {m: (B,)} presence -> ``spread_cos_<m>`` and ``spread_std_<m>`` over
    the samples that have m (modalities with fewer than 2 such samples are left out)."""
    out = {}
    for m, x in embeddings.items():
        rows = x[present[m].bool()]
        if rows.shape[0] >= 2:
            stats = embedding_spread(rows)
            out[COS_PREFIX + m], out[STD_PREFIX + m] = stats['cos'], stats['std']
    return out
