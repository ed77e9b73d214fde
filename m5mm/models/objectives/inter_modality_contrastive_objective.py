"""InfoNCE over every modality pair, weighted per sample by the harmonizer (SCALE's SIMCL)."""
from __future__ import annotations

import math
from itertools import combinations
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from m5mm.registry import OBJECTIVES
from m5mm.utils.distributed import (all_gather_tensor, all_reduce_sum, gather_sizes, gather_with_grad,
                                    rank_offset, rank_share_loss)
from .base_objective import WEIGHT_MODES, BaseObjective
from .contrastive_losses import group_positives, info_nce_rows, unique_unknown_codes

if TYPE_CHECKING:
    from m5mm.models.backbones import ForwardContext, MultiModalBackbone

#: batch ``meta`` keys a contrastive objective can take positives from
GROUP_KEYS = ('instance', 'category')


@OBJECTIVES.register_module()
class InterModalityContrastiveObjective(BaseObjective):
    """Symmetric InfoNCE (NT-Xent) for every modality pair over in-batch negatives.

    For a pair (i, j) and a query sample b that has both modalities, the logits are
    ``w * cos(z_i[b], z_j[c]) / T`` over every sample c of the global batch that has both
    modalities (rows and columns of samples lacking one are excluded); the positive is
    c = b. ``z`` are the backbone's pooled embeddings (through its projection heads) and ``w =
    W[b, i, j]`` the harmonizer's weights of those embeddings in the i->j direction, ``W[b, j, i]``
    in the j->i direction. ``weight_mode='logits'`` scales the logits by w (authors' code),
    ``'loss'`` multiplies the sample's cross-entropy by w (paper). A pair's loss is the mean
    over both directions and its valid samples; a pair with fewer than 2 valid samples gives 0
    (its logits stay in the graph); ``loss_con`` is the mean over the pairs that have samples.

    ``group_by='instance'`` (or ``'category'``) makes every sample of the same group a positive
    (multi-positive InfoNCE, see :func:`~m5mm.models.objectives.contrastive_losses.info_nce_rows`):
    ``-1/|P_b| sum_{p in P_b} log softmax(logits_b)[p]`` over the valid columns ``p`` that share
    b's group (b's own column included; an unknown group (-1) is a group of one). With no other
    listing in the batch it is today's loss exactly.

    Under ``torch.distributed`` the embeddings are gathered with gradients; each rank's rows
    are its local queries (positives at ``rank offset + b``). Each rank returns the global
    loss value, with a gradient scaled so that the rank-average that DDP/DeepSpeed apply
    equals the gradient of the single-process loss on the concatenated batch.

    Args:
        temperature: softmax temperature T.
        learnable_temperature: learn log(1/T) (CLIP style), clamped to T >= min_temperature.
        min_temperature: lower clamp of a learnable temperature.
        normalize: L2-normalise embeddings (cosine logits); else raw dot products.
        weight_mode: 'logits' or 'loss' (how the harmonizer weights enter).
        pairs: restrict to these modality pairs (default: all pairs of the model's modalities);
            the objective then needs every modality they name.
        unmasked: contrast the embeddings of a second, unmasked encoder pass (default: those of
            the masked pass the masked objectives use).
        backbone: the model's backbone (its embeddings must share one width).
        loss_weight: factor of ``loss_{name}``.
        name: key suffix of the outputs (``loss_con``, ``acc_con_text_image``, ``con_text_image``).
        group_by: a batch ``meta`` key (``instance``, ``category``) whose equal values are positives
            of each other; None: the sample itself only.
        mean_one_weights: divide the harmonizer's weights by their mean over the batch's valid pairs
            (both modalities present, i != j; a detached scalar) before using them, so that they set the
            relative emphasis of pairs and samples but not the temperature. The cosine-graph weights are
            about ``cos(z_i, z_j) / e`` off the diagonal: with towers whose projected embeddings start
            unrelated across modalities (pretrained towers, random projection heads) they are ~0.15 and
            ``weight_mode='logits'`` turns T = 0.07 into ~0.45 (docs/benchmark.md, "SCALE on real towers").
    """

    min_modalities = 2
    needs = ('backbone',)

    def __init__(self, *, temperature: float = 0.07, learnable_temperature: bool = False,
                 min_temperature: float = 0.01, normalize: bool = True, weight_mode: str = 'logits',
                 pairs: Optional[Sequence[Sequence[str]]] = None, unmasked: bool = False,
                 backbone: Optional['MultiModalBackbone'] = None, loss_weight: float = 1.0,
                 name: str = 'con', group_by: Optional[str] = None, mean_one_weights: bool = False) -> None:
        super().__init__(name=name, loss_weight=loss_weight)
        if group_by is not None and group_by not in GROUP_KEYS:
            raise ValueError(f'group_by must be one of {GROUP_KEYS} or None, got {group_by!r}')
        self.group_by = group_by
        self.mean_one_weights = bool(mean_one_weights)
        if weight_mode not in WEIGHT_MODES:
            raise ValueError(f'weight_mode must be one of {WEIGHT_MODES}, got {weight_mode!r}')
        if temperature <= 0 or min_temperature <= 0:
            raise ValueError(f'temperatures must be > 0, got {temperature}, {min_temperature}')
        self.learnable_temperature = learnable_temperature
        self.min_temperature = min_temperature
        log_scale = torch.tensor(math.log(1.0 / temperature))
        if learnable_temperature:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer('log_scale', log_scale, persistent=False)
        self.normalize = normalize
        self.weight_mode = weight_mode
        self.pairs = [tuple(p) for p in pairs] if pairs is not None else None
        self.modalities = tuple(dict.fromkeys(m for pair in self.pairs or () for m in pair))
        self.unmasked = unmasked
        self.batch_wide = (self.embedding_source,)
        if backbone is not None:
            self._check_widths(backbone.embedding_widths())

    @classmethod
    def required_modalities(cls, cfg: Mapping[str, Any]) -> Tuple[str, ...]:
        """The modalities named in ``pairs`` (none without pairs: it takes the model's)."""
        return tuple(dict.fromkeys(m for pair in cfg.get('pairs') or () for m in pair))

    def _check_widths(self, widths: Dict[str, int]) -> None:
        if len(set(widths.values())) > 1:
            raise ValueError(f'{type(self).__name__} needs pooled embeddings of one width, got {widths}; set '
                             f'the encoders\' pooled_dim or a `projection` head config')

    @property
    def temperature(self) -> Tensor:
        """The current temperature (clamped)."""
        return 1.0 / self.logit_scale()

    def logit_scale(self) -> Tensor:
        """1 / T as a scalar tensor, clamped to 1 / min_temperature."""
        return self.log_scale.float().exp().clamp(max=1.0 / self.min_temperature)

    def _pairs(self, order: List[str]) -> List[Tuple[int, int]]:
        if self.pairs is None:
            return list(combinations(range(len(order)), 2))
        unknown = sorted({m for pair in self.pairs for m in pair} - set(order))
        if unknown:
            raise KeyError(f'{type(self).__name__}: pairs name modalities {unknown} not among {order}')
        return [tuple(sorted((order.index(a), order.index(b)))) for a, b in self.pairs]

    @property
    def embedding_source(self) -> str:
        """The :class:`~m5mm.models.backbones.ForwardContext` embeddings it contrasts (and the harmonizer weighs)."""
        return 'clean_embeddings' if self.unmasked else 'embeddings'

    def forward(self, ctx: 'ForwardContext') -> Dict[str, Tensor]:
        """The pooled embeddings of ``ctx`` (of its unmasked pass with ``unmasked``), weighted by
        the harmonizer's weights of those embeddings -> :meth:`compute`'s outputs. Reads only
        :attr:`batch_wide`, ``present`` and ``pair_weights`` of the former (so that contrastive
        accumulation can call it on the whole batch's cached embeddings)."""
        embeddings = getattr(ctx, self.embedding_source)
        groups = self.batch_groups(ctx.meta, embeddings)
        harmonized = ctx.pair_weights(self.embedding_source)
        return self.compute(embeddings, ctx.present, None if harmonized is None else harmonized.weights,
                            groups=groups)

    def batch_groups(self, meta, embeddings: Dict[str, Tensor]) -> Optional[Tensor]:
        """(B,) long codes of ``meta[group_by]`` (None without ``group_by``)."""
        if self.group_by is None:
            return None
        if self.group_by not in meta:
            raise KeyError(f'{type(self).__name__}: group_by={self.group_by!r} but the batch meta has no '
                           f'{self.group_by!r} (it has {sorted(meta)})')
        device = next(iter(embeddings.values())).device
        return torch.as_tensor(meta[self.group_by], dtype=torch.long, device=device)

    def compute(self, embeddings: Dict[str, Tensor], present: Dict[str, Tensor],
                weights: Optional[Tensor] = None, groups: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Contrastive loss of all modality pairs.

        Args:
            embeddings: {m: (B, D)} pooled embeddings (one width for all m).
            present: {m: (B,) bool}.
            weights: (B, M, M) harmonizer weights in the order of ``embeddings``, or None.
            groups: (B,) long group codes (-1: a group of one), or None: the diagonal only.

        Returns:
            ``loss_{name}``, ``acc_{name}_{i}_{j}`` and ``{name}_{i}_{j}`` (detached pair losses).
        """
        order, batch, pairs, device, sizes, offset, local, pres = self._local_batch(embeddings, present, weights)
        targets = torch.arange(batch, device=device) + offset
        scale = self.logit_scale()
        if weights is not None and self.mean_one_weights:
            weights = weights / pair_weight_mean(weights, torch.stack([pres[m] for m in order], dim=1))
        # one collective for all modalities' embeddings, one for their presence flags
        gathered = dict(zip(order, gather_with_grad(torch.cat([local[m] for m in order], dim=1), sizes)
                            .split([local[m].shape[1] for m in order], dim=1)))
        pres_all = dict(zip(order, all_gather_tensor(torch.stack([pres[m] for m in order], dim=1), sizes)
                            .unbind(dim=1)))
        positives = None
        if groups is not None:
            if groups.shape != (batch,):
                raise ValueError(f'groups must be ({batch},), got {tuple(groups.shape)}')
            groups_all = unique_unknown_codes(all_gather_tensor(groups.to(device).long(), sizes))
            positives = group_positives(groups_all[offset:offset + batch], groups_all)

        pair_sums, pair_hits, pair_counts = [], [], []
        for i, j in pairs:
            mi, mj = order[i], order[j]
            rows = pres[mi] & pres[mj]
            cols = pres_all[mi] & pres_all[mj]
            w_ij = weights[:, i, j].float() if weights is not None else None
            w_ji = weights[:, j, i].float() if weights is not None else None
            ce_ij, hit_ij = self._direction(local[mi], gathered[mj], rows, cols, targets, scale, w_ij, positives)
            ce_ji, hit_ji = self._direction(local[mj], gathered[mi], rows, cols, targets, scale, w_ji, positives)
            pair_sums.append(ce_ij + ce_ji)
            pair_hits.append(hit_ij + hit_ji)
            pair_counts.append(cols.sum().float())
        return self._reduce(order, pairs, pair_sums, pair_hits, pair_counts, local, device)

    def _local_batch(self, embeddings: Dict[str, Tensor], present: Dict[str, Tensor], weights: Optional[Tensor]):
        """What every contrastive form starts from: the modality order, this rank's batch size, the pairs,
        the device, every rank's batch size and this rank's offset in the gathered batch, and this rank's
        (normalised) embeddings {m: (B, D)} and presence {m: (B,) bool}."""
        order = list(embeddings)
        batch = next(iter(embeddings.values())).shape[0]
        self._check(embeddings, present, weights, order, batch)
        device = embeddings[order[0]].device
        sizes = gather_sizes(batch, device)
        local = {m: self._embed(embeddings[m]) for m in order}
        pres = {m: present[m].bool().to(device) for m in order}
        return order, batch, self._pairs(order), device, sizes, rank_offset(sizes), local, pres

    def _embed(self, x: Tensor) -> Tensor:
        x = x.float()
        return F.normalize(x, dim=-1) if self.normalize else x

    def _direction(self, query: Tensor, keys: Tensor, rows: Tensor, cols: Tensor, targets: Tensor,
                   scale: Tensor, weight: Optional[Tensor], positives: Optional[Tensor] = None
                   ) -> Tuple[Tensor, Tensor]:
        """Summed cross-entropy and hit count of the valid local query rows against all keys."""
        logits = query @ keys.t() * scale                                   # (B, B_all)
        if weight is not None and self.weight_mode == 'logits':
            logits = logits * weight[:, None]
        logits = logits.masked_fill(~cols[None, :], torch.finfo(logits.dtype).min)
        if positives is None:
            ce = F.cross_entropy(logits, targets, reduction='none')
            hit = logits.detach().argmax(dim=-1) == targets
        else:
            ce, hit = info_nce_rows(logits, positives & cols[None, :])
        if weight is not None and self.weight_mode == 'loss':
            ce = ce * weight
        ce = torch.where(rows, ce, torch.zeros_like(ce))
        hits = (hit & rows).sum().float()
        return ce.sum(), hits

    def _reduce(self, order, pairs, pair_sums, pair_hits, pair_counts, local, device) -> Dict[str, Tensor]:
        if not pairs:
            raise ValueError(f'{type(self).__name__} needs at least two modalities, got {order}')
        counts = torch.stack(pair_counts)                                   # global, same on all ranks
        has_samples = (counts >= 2).float()
        n_pairs = has_samples.sum().clamp_min(1.0)
        per_pair = torch.stack(pair_sums) / (2.0 * counts.clamp_min(1.0))  # this rank's share
        share = (per_pair * has_samples).sum() / n_pairs
        stats = all_reduce_sum(torch.cat([share[None], per_pair.detach(), torch.stack(pair_hits)]))
        out = {f'loss_{self.name}': rank_share_loss(share, stats[0]) * self.loss_weight}
        n_p = len(pairs)
        accs = stats[1 + n_p:] / (2.0 * counts.clamp_min(1.0)) * has_samples  # 0 for pairs without negatives
        for k, (i, j) in enumerate(pairs):
            key = f'{order[i]}_{order[j]}'
            out[f'acc_{self.name}_{key}'] = accs[k]
            out[f'{self.name}_{key}'] = stats[1 + k]
        if self.learnable_temperature:
            out[f'{self.name}_temperature'] = self.temperature.detach()
        return out

    def _check(self, embeddings, present, weights, order, batch) -> None:
        widths = {m: tuple(e.shape) for m, e in embeddings.items()}
        if any(e.dim() != 2 or e.shape[0] != batch for e in embeddings.values()) or \
                len({e.shape[1] for e in embeddings.values()}) > 1:
            raise ValueError(f'{type(self).__name__} needs (B, D) embeddings of one width, got {widths}')
        missing = [m for m in order if m not in present]
        if missing:
            raise KeyError(f'{type(self).__name__}: no presence mask for {missing}')
        if weights is not None and tuple(weights.shape) != (batch, len(order), len(order)):
            raise ValueError(f'weights must be (B, M, M) = ({batch}, {len(order)}, {len(order)}), '
                             f'got {tuple(weights.shape)}')


def pair_weight_mean(weights: Tensor, present: Tensor) -> Tensor:
    """The detached mean of (B, M, M) ``weights`` over the entries (b, i, j), i != j, where sample b has
    both modalities (``present`` (B, M) bool); 1 when there are none or the mean is not positive."""
    valid = present[:, :, None] & present[:, None, :]
    valid = valid & ~torch.eye(present.shape[1], dtype=torch.bool, device=present.device)
    values = weights.detach().float()[valid]
    mean = values.mean() if values.numel() else values.new_ones(())
    return torch.where(mean > 0, mean, torch.ones_like(mean))
