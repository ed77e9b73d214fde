"""Cross-listing contrast: within one modality, the other listings of a product are its positives."""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from m5mm.registry import OBJECTIVES
from m5mm.utils.distributed import (all_gather_tensor, all_reduce_sum, gather_sizes, gather_with_grad,
                                    rank_offset, rank_share_loss)
from .base_objective import BaseObjective
from .contrastive_losses import group_positives, info_nce_rows, unique_unknown_codes
from .inter_modality_contrastive_objective import GROUP_KEYS

if TYPE_CHECKING:
    from m5mm.models.backbones import ForwardContext


@OBJECTIVES.register_module()
class CrossListingObjective(BaseObjective):
    """Multi-positive InfoNCE **within** each modality across the listings of one product: the photo
    of a listing is pulled towards the photos of the product's other listings (another background,
    crop, scale, colour) and pushed from every other photo of the batch; likewise titles, tables...

    The inter-modality objective aligns modalities; it never says that two photos of one product are
    alike, which is what a photo query needs. A catalogue says it for free: its duplicate listings
    (``instance``) are the views a self-supervised method would have to invent. Use it with batches
    that hold several listings of a group (``batch_sampler=dict(type='per_group', k=2)``): a sample
    without another listing of its group in the (global) batch is no query.

    For modality m, with ``z`` the unit embeddings of the samples that have m (gathered across
    processes), ``P_b`` the other samples of b's group (b itself excluded) and ``T`` the temperature::

        loss_m = mean over b with P_b != {} of
                 -1/|P_b| sum_{p in P_b} log( exp(z_b.z_p / T) / sum_{c != b} exp(z_b.z_c / T) )

    ``loss_<name>`` is the mean of ``loss_m`` over the modalities that have queries (a plain 0 when
    none has), equal across processes to one process with the whole batch; under contrastive
    accumulation it is computed once on the whole batch (``batch_wide``). Harmonizer weights are not
    applied (they weigh pairs of different modalities).

    Args:
        modalities: the modalities it applies to (default: all of the model's).
        group_by: the batch ``meta`` key whose equal values are listings of one product.
        temperature: softmax temperature T.
        unmasked: contrast the embeddings of the unmasked pass (``clean_embeddings``).
        loss_weight: factor of ``loss_{name}``.
        name: key suffix of the outputs (``loss_listing``, ``acc_listing_<m>``).
    """

    needs = ()

    def __init__(self, *, modalities: Optional[Sequence[str]] = None, group_by: str = 'instance',
                 temperature: float = 0.07, unmasked: bool = False, loss_weight: float = 1.0,
                 name: str = 'listing') -> None:
        super().__init__(name=name, loss_weight=loss_weight)
        if group_by not in GROUP_KEYS:
            raise ValueError(f'group_by must be one of {GROUP_KEYS}, got {group_by!r}')
        if temperature <= 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        self.only = tuple(modalities) if modalities else None
        self.modalities = self.only or ()
        self.group_by = group_by
        self.temperature = float(temperature)
        self.source = 'clean_embeddings' if unmasked else 'embeddings'
        self.batch_wide = (self.source,)

    @classmethod
    def required_modalities(cls, cfg) -> tuple:
        return tuple(cfg.get('modalities') or ())

    def forward(self, ctx: 'ForwardContext') -> Dict[str, Tensor]:
        """The step's embeddings and the batch's groups -> :meth:`compute`'s outputs."""
        embeddings = getattr(ctx, self.source)
        if self.group_by not in ctx.meta:
            raise KeyError(f'{type(self).__name__}: group_by={self.group_by!r} but the batch meta has no '
                           f'{self.group_by!r} (it has {sorted(ctx.meta)})')
        first = next(iter(embeddings.values()))
        groups = torch.as_tensor(ctx.meta[self.group_by], dtype=torch.long, device=first.device)
        order = list(self.only or ctx.backbone.modalities)
        return self.compute({m: embeddings[m] for m in order}, ctx.present, groups)

    def compute(self, embeddings: Dict[str, Tensor], present: Dict[str, Tensor], groups: Tensor
                ) -> Dict[str, Tensor]:
        """{m: (B, D)} embeddings, {m: (B,)} presence, (B,) group codes (< 0: a group of one) -> the loss,
        ``acc_<name>_<m>`` (share of queries whose nearest other sample is a positive) and ``count_<name>_<m>``."""
        order = list(embeddings)
        batch = groups.shape[0]
        device = groups.device
        sizes = gather_sizes(batch, device)
        offset = rank_offset(sizes)
        local = [F.normalize(embeddings[m].float(), dim=-1) for m in order]
        widths = [x.shape[1] for x in local]
        keys = gather_with_grad(torch.cat(local, dim=1), sizes).split(widths, dim=1)
        pres = torch.stack([present[m].bool().to(device) for m in order], dim=1)              # (B, M)
        pres_all = all_gather_tensor(pres, sizes)                                              # (N, M)
        groups_all = unique_unknown_codes(all_gather_tensor(groups.long(), sizes))            # (N,)
        own = torch.zeros(batch, groups_all.shape[0], dtype=torch.bool, device=device)
        own[torch.arange(batch, device=device), torch.arange(batch, device=device) + offset] = True
        same = group_positives(groups_all[offset:offset + batch], groups_all) & ~own        # (B, N)
        sums, hits, queries = [], [], []
        for k, m in enumerate(order):
            valid = pres_all[:, k]
            positives = same & valid[None, :]
            rows = pres[:, k] & positives.any(dim=1)
            logits = local[k] @ keys[k].t() / self.temperature                                # (B, N)
            logits = logits.masked_fill(own | ~valid[None, :], torch.finfo(logits.dtype).min)
            ce, hit = info_nce_rows(logits, positives)
            sums.append(torch.where(rows, ce, torch.zeros_like(ce)).sum())
            hits.append((hit & rows).sum().float())
            queries.append(rows.sum().float())
        return self._reduce(order, sums, hits, queries, local)

    def _reduce(self, order, sums, hits, queries, local) -> Dict[str, Tensor]:
        counts = all_reduce_sum(torch.stack(queries))                        # global queries per modality
        has = (counts > 0).float()
        share = (torch.stack(sums) / counts.clamp_min(1.0) * has).sum() / has.sum().clamp_min(1.0)
        stats = all_reduce_sum(torch.cat([share.detach()[None], torch.stack(hits)]))
        # every embedding stays in the graph, with or without queries
        loss = rank_share_loss(share, stats[0]) + sum(x.sum() for x in local) * 0.0
        out = {f'loss_{self.name}': self.loss_weight * loss}
        for k, m in enumerate(order):
            out[f'acc_{self.name}_{m}'] = stats[1 + k] / counts[k].clamp_min(1.0)
        return out

    def extra_repr(self) -> str:
        return f'modalities={self.only}, group_by={self.group_by!r}, temperature={self.temperature}'
