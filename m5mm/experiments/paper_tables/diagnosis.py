"""Why does a joint embedding get worse as modalities are added? Numbers from one trained model.

:func:`diagnose_model` extracts, for the query and gallery splits, every modality's pooled and fused
vector, ``joint`` and the harmonizer's weights, and reports (docs/benchmark.md, "More modalities"):

* ``retrieval``: coarse mAP@1 (same category, dot product as the benchmark's retrieval task, and cosine)
  from ``joint``, from each modality's ``pooled`` / ``fused`` vector alone (queries and gallery items
  lacking it have a zero vector), from ``joint`` without one modality, from the mean of the fused vectors
  with each modality's gallery mean removed (``joint_centered``: ``joint`` without the component every
  product shares) and from the fused vectors weighted by the harmonizer's importances (``joint_weighted``);
* ``spread``: per source, the mean pairwise cosine and mean per-dimension std over the query + gallery
  records that have it (see :mod:`m5mm.models.backbones.spread`), and the number of distinct top-1 gallery
  items the queries retrieve with ``joint``;
* ``harmonizer``: per weight source (pooled ``embeddings``, ``fused``), the share of negative
  off-diagonal weights, their mean, per-modality importances, and the effective contrastive temperature
  ``T / mean(W)`` when the weights scale the logits.
"""
from __future__ import annotations

from typing import Any, Dict, List

import numpy as np
import torch
from torch import Tensor

from m5mm.evaluation.metrics.retrieval import retrieval_metrics
from m5mm.models.backbones.spread import embedding_spread
from m5mm.models.harmonizers import BaseHarmonizer


@torch.no_grad()
def _extract(model, cfg, split: str) -> Dict[str, Any]:
    from m5mm.evaluation.evaluate import split_dataloader
    from accelerate.utils import send_to_device
    backbone = model.backbone
    device = next(model.parameters()).device
    rows: Dict[str, List[Tensor]] = {}
    for batch in split_dataloader(cfg, split):
        batch = send_to_device(batch, device)
        ctx = backbone.context(batch)
        feats = backbone.features(ctx)
        record = {'joint': feats['joint'], 'category': batch['meta']['category']}
        for m in backbone.modalities:
            record[f'pooled:{m}'], record[f'fused:{m}'] = feats['pooled'][m], feats['fused'][m]
            record[f'present:{m}'] = feats['present'][m].bool()
        if backbone.harmonizer is not None:
            for source in ('embeddings', 'fused'):
                record[f'weights:{source}'] = ctx.pair_weights(source).weights
        for key, value in record.items():
            rows.setdefault(key, []).append(value.detach().float().cpu() if value.is_floating_point() else value.cpu())
    return {key: torch.cat(values) for key, values in rows.items()}


def _map1(query: Tensor, gallery: Tensor, q_labels: Tensor, g_labels: Tensor, similarity: str) -> float:
    return round(100 * float(retrieval_metrics(query, gallery, q_labels.numpy(), g_labels.numpy(), ks=(1,),
                                               similarity=similarity)['mAP@1']), 2)


def _masked_mean(vectors: List[Tensor], present: List[Tensor]) -> Tensor:
    flags = torch.stack(present, dim=1).float()                             # (N, M)
    total = sum(v * flags[:, k, None] for k, v in enumerate(vectors))
    return total / flags.sum(dim=1, keepdim=True).clamp_min(1.0)


def _sources(data: Dict[str, Any], modalities: List[str], centre: Dict[str, Tensor]) -> Dict[str, Tensor]:
    out = {'joint': data['joint']}
    fused = [data[f'fused:{m}'] for m in modalities]
    present = [data[f'present:{m}'] for m in modalities]
    for k, m in enumerate(modalities):
        out[f'pooled:{m}'] = data[f'pooled:{m}'] * present[k][:, None]
        out[f'fused:{m}'] = fused[k]
        if len(modalities) > 2:
            rest = [j for j in range(len(modalities)) if j != k]
            out[f'joint_without:{m}'] = _masked_mean([fused[j] for j in rest], [present[j] for j in rest])
    out['joint_centered'] = _masked_mean([f - centre[m] for f, m in zip(fused, modalities)], present)
    if 'weights:fused' in data:
        share = BaseHarmonizer.sample_importance(data['weights:fused'], torch.stack(present, dim=1)).clamp_min(0)
        total = share.sum(dim=1, keepdim=True)
        mixed = sum(share[:, k, None] * f for k, f in enumerate(fused)) / total.clamp_min(1e-12)
        out['joint_weighted'] = torch.where(total > 0, mixed, data['joint'])
    return out


def _harmonizer_stats(data: Dict[str, Any], modalities: List[str], temperature: float) -> Dict[str, Any]:
    present = torch.stack([data[f'present:{m}'] for m in modalities], dim=1)
    pairs = present[:, :, None] & present[:, None, :] & ~torch.eye(len(modalities), dtype=torch.bool)
    stats = {}
    for source in ('embeddings', 'fused'):
        weights = data.get(f'weights:{source}')
        if weights is None or not pairs.any():
            continue
        values = weights[pairs]
        importance = BaseHarmonizer.importance(weights, present, modalities)
        stats[source] = dict(negative_share=round(float((values < 0).float().mean()), 4),
                             mean=round(float(values.mean()), 4), std=round(float(values.std()), 4),
                             importance={m: round(float(v), 4) for m, v in importance.items()},
                             effective_temperature=round(temperature / max(float(values.mean()), 1e-6), 4))
    return stats


def _contrastive_temperature(model) -> float:
    for objective in model.objectives.values():
        if hasattr(objective, 'logit_scale'):
            return float(1.0 / objective.logit_scale().detach())
    return float('nan')


def diagnose_model(model, cfg) -> Dict[str, Any]:
    """The numbers of the module docstring for a trained ``model`` (a ``MultiModalModel``) on the
    ``query`` / ``gallery`` splits of ``cfg``'s test data."""
    was_training = model.training
    model.eval()
    try:
        query, gallery = _extract(model, cfg, 'query'), _extract(model, cfg, 'gallery')
    finally:
        model.train(was_training)
    modalities = list(model.backbone.modalities)
    centre = {m: gallery[f'fused:{m}'][gallery[f'present:{m}']].mean(dim=0) if gallery[f'present:{m}'].any()
              else torch.zeros_like(gallery[f'fused:{m}'][0]) for m in modalities}
    q_src, g_src = _sources(query, modalities, centre), _sources(gallery, modalities, centre)
    labels = query['category'], gallery['category']
    retrieval = {name: {'dot': _map1(q_src[name], g_src[name], *labels, 'dot'),
                        'cosine': _map1(q_src[name], g_src[name], *labels, 'cosine')} for name in q_src}
    spread = {}
    for name in ['joint'] + [f'{kind}:{m}' for kind in ('pooled', 'fused') for m in modalities]:
        both = torch.cat([query[name], gallery[name]])
        if name != 'joint':
            both = both[torch.cat([query[f'present:{name.split(":")[1]}'], gallery[f'present:{name.split(":")[1]}']])]
        stats = embedding_spread(both)
        spread[name] = {'cos': round(float(stats['cos']), 4), 'std': round(float(stats['std']), 4),
                        'norm': round(float(both.norm(dim=-1).mean()), 3)}
    top1 = (query['joint'] @ gallery['joint'].t()).argmax(dim=1)
    return dict(retrieval=retrieval, spread=spread, distinct_top1=int(np.unique(top1.numpy()).size),
                num_queries=int(query['joint'].shape[0]), num_gallery=int(gallery['joint'].shape[0]),
                harmonizer=_harmonizer_stats({**{k: torch.cat([query[k], gallery[k]]) for k in query
                                                 if k.startswith(('weights:', 'present:'))}}, modalities,
                                             _contrastive_temperature(model)))
