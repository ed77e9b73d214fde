"""SigLIP's pairwise sigmoid loss over every modality pair, weighted by the harmonizer, multi-positive."""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from m5mm.registry import OBJECTIVES
from m5mm.utils.distributed import all_gather_tensor, gather_with_grad
from m5mm.utils.ring_exchange import ring_blocks

from .contrastive_losses import sigmoid_rows, unique_unknown_codes
from .inter_modality_contrastive_objective import InterModalityContrastiveObjective, pair_weight_mean

if TYPE_CHECKING:
    from m5mm.models.backbones import MultiModalBackbone

EXCHANGES = ('ring', 'gather')
#: what a pair's summed sigmoid loss is divided by (besides the 2 directions)
NORMALIZATIONS = ('samples', 'pairs')


@OBJECTIVES.register_module()
class SigmoidContrastiveObjective(InterModalityContrastiveObjective):
    """Pairwise sigmoid loss (SigLIP, Zhai et al. 2023) for every modality pair.

    For a pair (i, j), a valid query row b (both modalities present) and a valid column c::

        L_bc = w * t * cos(z_i[b], z_j[c]) + bias,   loss_bc = -log sigmoid(y_bc * L_bc)

    with ``y_bc = +1`` when c is b itself or (with ``group_by``) of b's group, else -1; ``t`` and
    ``bias`` are learned (SigLIP's initial t = 10, bias = -10). ``w`` is the harmonizer weight as
    in :class:`InterModalityContrastiveObjective` (``weight_mode='loss'`` multiplies the row loss
    instead). A pair's loss is the sum over rows and columns of both directions divided by
    ``2 * (valid samples)`` (SigLIP's per-batch normalisation, ``normalization='samples'``) or by
    ``2 * (valid samples)^2`` (``'pairs'``: the mean over the valid (row, column) pairs, a value and
    gradient on the scale of InfoNCE's whatever the batch); ``loss_con`` is the mean over pairs.

    Across processes, ``exchange='ring'`` passes each rank's embeddings round the ring, one other
    rank's block at a time, with gradients sent back the same way (open_clip's
    ``--loss-dist-impl shift``); ``'gather'`` all-gathers them at once. Both give the loss and
    gradients of the concatenated batch; presence flags and group codes (a few bytes per sample)
    are all-gathered.

    Args:
        temperature: initial 1 / t (0.1: t = 10). learnable_temperature: learn it (default True).
        bias: initial bias. learnable_bias: learn it (default True).
        exchange: 'ring' or 'gather'.
        normalization: 'samples' (SigLIP: the sum over pairs / valid samples, a value that grows with the
            batch: ~17x InfoNCE's at batch 16 with SigLIP's initial t and bias) or 'pairs' (the mean over the
            valid pairs).
        min_temperature, normalize, weight_mode, pairs, unmasked, backbone, loss_weight, name, group_by,
            mean_one_weights: as :class:`InterModalityContrastiveObjective` (``mean_one_weights``: the
            harmonizer's weights divided by their mean over the batch's valid pairs, so that weights of ~0.15
            from real towers do not shrink ``t``; configs/scale_5mod_packaged.py sets it).
    """

    def __init__(self, *, temperature: float = 0.1, learnable_temperature: bool = True, bias: float = -10.0,
                 learnable_bias: bool = True, exchange: str = 'ring', min_temperature: float = 0.01,
                 normalize: bool = True, weight_mode: str = 'logits', pairs: Optional[Sequence[Sequence[str]]] = None,
                 unmasked: bool = False, backbone: Optional['MultiModalBackbone'] = None, loss_weight: float = 1.0,
                 name: str = 'con', group_by: Optional[str] = None, mean_one_weights: bool = False,
                 normalization: str = 'samples') -> None:
        super().__init__(temperature=temperature, learnable_temperature=learnable_temperature,
                         min_temperature=min_temperature, normalize=normalize, weight_mode=weight_mode, pairs=pairs,
                         unmasked=unmasked, backbone=backbone, loss_weight=loss_weight, name=name, group_by=group_by,
                         mean_one_weights=mean_one_weights)
        if exchange not in EXCHANGES:
            raise ValueError(f'exchange must be one of {EXCHANGES}, got {exchange!r}')
        self.exchange = exchange
        if normalization not in NORMALIZATIONS:
            raise ValueError(f'normalization must be one of {NORMALIZATIONS}, got {normalization!r}')
        self.normalization = normalization
        self.learnable_bias = learnable_bias
        if learnable_bias:
            self.bias = nn.Parameter(torch.tensor(float(bias)))
        else:
            self.register_buffer('bias', torch.tensor(float(bias)), persistent=False)

    def compute(self, embeddings: Dict[str, Tensor], present: Dict[str, Tensor],
                weights: Optional[Tensor] = None, groups: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Sigmoid loss of all modality pairs (arguments and outputs as the InfoNCE objective's,
        plus ``{name}_bias`` when the bias is learned)."""
        order, batch, pairs, device, sizes, offset, local, pres = self._local_batch(embeddings, present, weights)
        if weights is not None and self.mean_one_weights:
            weights = weights / pair_weight_mean(weights, torch.stack([pres[m] for m in order], dim=1))
        pres_all = dict(zip(order, all_gather_tensor(torch.stack([pres[m] for m in order], dim=1), sizes)
                            .unbind(dim=1)))
        codes = groups.to(device).long() if groups is not None else torch.full((batch,), -1, device=device)
        groups_all = unique_unknown_codes(all_gather_tensor(codes, sizes))
        mine = groups_all[offset:offset + batch]
        scale, bias = self.logit_scale(), self.bias.float()
        widths = [local[m].shape[1] for m in order]
        stacked = torch.cat([local[m] for m in order], dim=1)
        blocks = ring_blocks(stacked, sizes) if self.exchange == 'ring' else [(0, gather_with_grad(stacked, sizes))]
        sums = [[0.0, 0.0] for _ in pairs]
        best = [[None, None] for _ in pairs]
        for start, block in blocks:
            if block.shape[0] == 0:
                continue
            keys = dict(zip(order, block.split(widths, dim=1)))
            span = slice(start, start + block.shape[0])
            positives = mine[:, None] == groups_all[span][None, :]
            for p, (i, j) in enumerate(pairs):
                mi, mj = order[i], order[j]
                rows, cols = pres[mi] & pres[mj], pres_all[mi][span] & pres_all[mj][span]
                for d, (query, key, w) in enumerate(((local[mi], keys[mj], self._w(weights, i, j)),
                                                     (local[mj], keys[mi], self._w(weights, j, i)))):
                    loss, top = self._block(query, key, rows, cols, positives, scale, bias, w)
                    sums[p][d] = sums[p][d] + loss
                    best[p][d] = top if best[p][d] is None else _better(best[p][d], top)
        pair_sums = [s[0] + s[1] for s in sums]
        pair_hits = [sum(((b[1] & (pres[order[i]] & pres[order[j]])).sum().float()) for b in best[p])
                     for p, (i, j) in enumerate(pairs)]
        pair_counts = [(pres_all[order[i]] & pres_all[order[j]]).sum().float() for i, j in pairs]
        if self.normalization == 'pairs':
            pair_sums = [total / count.clamp_min(1.0) for total, count in zip(pair_sums, pair_counts)]
        out = self._reduce(order, pairs, pair_sums, pair_hits, pair_counts, local, device)
        if self.learnable_bias:
            out[f'{self.name}_bias'] = self.bias.detach()
        return out

    @staticmethod
    def _w(weights: Optional[Tensor], i: int, j: int) -> Optional[Tensor]:
        return weights[:, i, j].float() if weights is not None else None

    def _block(self, query: Tensor, key: Tensor, rows: Tensor, cols: Tensor, positives: Tensor, scale: Tensor,
               bias: Tensor, weight: Optional[Tensor]) -> Tuple[Tensor, Tuple[Tensor, Tensor]]:
        """Summed loss of the valid rows against one block of keys, and each row's best (logit, is positive)."""
        logits = query @ key.t() * scale
        if weight is not None and self.weight_mode == 'logits':
            logits = logits * weight[:, None]
        logits = logits + bias
        loss = sigmoid_rows(logits, positives, cols)
        if weight is not None and self.weight_mode == 'loss':
            loss = loss * weight
        loss = torch.where(rows, loss, torch.zeros_like(loss)).sum()
        value, column = logits.detach().masked_fill(~cols[None, :], float('-inf')).max(dim=-1)
        hit = positives.gather(1, column[:, None]).squeeze(1)
        return loss, (value, hit & torch.isfinite(value))


def _better(old: Tuple[Tensor, Tensor], new: Tuple[Tensor, Tensor]) -> Tuple[Tensor, Tensor]:
    take = new[0] > old[0]
    return torch.where(take, new[0], old[0]), torch.where(take, new[1], old[1])
