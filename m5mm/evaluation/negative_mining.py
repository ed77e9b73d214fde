"""Mining hard negatives with a trained model: the nearest products of other groups (``tools/mine_negatives.py``)."""
from __future__ import annotations

import json
import os
from collections import Counter
from typing import Dict, Optional, Sequence

import numpy as np

MINE_KEYS = ('instance', 'category')


def nearest_other_groups(features: np.ndarray, ids: Sequence[str], groups: np.ndarray, *, k: int,
                         query_chunk: int = 4096, metric: str = 'cosine') -> Dict[str, list]:
    """For each product, the ``k`` nearest products (by the search index) whose group differs.

    Args:
        features: (N, D) vectors. ids: N product ids. groups: (N,) codes (< 0: a group of one).
        k: negatives per product (fewer when the catalogue has fewer products of other groups).

    Returns:
        ``{id: [negative ids, nearest first]}``.
    """
    from .search import SearchIndex
    from m5mm.datasets.group_batches import unique_unknown
    groups = unique_unknown(groups)
    index = SearchIndex.build(np.asarray(features, dtype=np.float32), list(ids), metric=metric)
    largest = max(Counter(groups.tolist()).values()) if len(groups) else 0
    topk = min(len(ids), k + largest)
    out: Dict[str, list] = {}
    for start in range(0, len(ids), query_chunk):
        stop = min(start + query_chunk, len(ids))
        result = index.search(features[start:stop], topk)
        for q, row in enumerate(result.indices):
            own = groups[start + q]
            picked = [ids[i] for i in row.tolist() if i >= 0 and groups[i] != own][:k]
            out[ids[start + q]] = picked
    return out


def trained_manifest(encoder) -> Optional[str]:
    """The manifest to read for a model that reads some modality as cached tower features: the one its run
    trained on (``features/manifest.jsonl``, kept in the model's provenance), as the raw catalogue's lines
    hold no features for it. None for a model on raw media (the catalogue's own manifest)."""
    cached = sorted(name for name, spec in encoder.preprocessor.specs.items() if spec.source == 'feature')
    if not cached:
        return None
    manifest = (encoder.config.get('provenance') or {}).get('manifest')
    if not manifest:
        raise ValueError(f'this model reads {cached} as cached tower features and does not say which manifest '
                         f'its run trained on: pass manifest= (--manifest), the features manifest written by '
                         f'tools/cache_features.py (e.g. DATA_ROOT/features/manifest.jsonl)')
    return manifest


def mine_negatives(encoder, data_root: str, out: str, *, k: int = 10, exclude: str = 'instance',
                   split: Sequence[str] = ('train',), manifest: Optional[str] = None, batch_size: int = 64,
                   num_workers: int = 0) -> Dict[str, int]:
    """Embed the ``split`` products of the catalogue at ``data_root`` with ``encoder`` (a
    :class:`~m5mm.api.ProductEncoder`) and write their negatives file ``out`` (JSON lines
    ``{"id", "negatives"}``, see :mod:`m5mm.datasets.hard_negatives`).

    Args:
        exclude: the grouping whose members are never negatives of each other (``instance``: other
            listings of the product; ``category``: its whole category).
        manifest: the manifest to read (default: the catalogue's ``manifest.jsonl``, or for a model on
            cached tower features the one its run trained on, :func:`trained_manifest`).

    Returns:
        ``{'products': N, 'negatives': total written}``.
    """
    from m5mm.datasets.loaders import build_dataloader
    from .catalogue_dataset import encoder_catalogue_dataset
    from .features import extract_features
    if exclude not in MINE_KEYS:
        raise ValueError(f'exclude must be one of {MINE_KEYS}, got {exclude!r}')
    if k < 1:
        raise ValueError(f'k must be >= 1, got {k}')
    dataset = encoder_catalogue_dataset(encoder, data_root, manifest or trained_manifest(encoder), list(split))
    loader = build_dataloader(dict(batch_size=batch_size, num_workers=num_workers), dataset=dataset)
    features = extract_features(encoder.model, loader, kind=encoder.feature)
    negatives = nearest_other_groups(features['features'], features['ids'], np.asarray(features[exclude]), k=k)
    tmp = f'{out}.tmp{os.getpid()}'
    with open(tmp, 'w', encoding='utf-8') as handle:
        for pid in features['ids']:
            handle.write(json.dumps(dict(id=pid, negatives=negatives[pid]), ensure_ascii=False) + '\n')
    os.replace(tmp, out)
    return dict(products=len(negatives), negatives=sum(len(v) for v in negatives.values()))
