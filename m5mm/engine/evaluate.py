"""Evaluating a model on a config's data: features per split, then the downstream tasks.

Splits follow the M5Product protocol on the manifest's ``split`` field: retrieval ranks the
``gallery`` for each ``query``; classification (linear probe) trains on ``train`` and scores
``test`` = query + gallery (products unseen in pretraining); clustering runs on ``test``.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, Iterable, Optional, Sequence

import numpy as np
from torch import nn

from m5mm.engine.data import build_dataloader
from m5mm.evaluation import extract_features, run_tasks

TASKS = {
    'retrieval': (dict(type='RetrievalTask', query_split='query', gallery_split='gallery'), ('query', 'gallery')),
    'classification': (dict(type='ClassificationTask', train_split='train', test_split='test'),
                       ('train', 'query', 'gallery')),
    'clustering': (dict(type='ClusteringTask', split='test'), ('query', 'gallery')),
}


def split_dataloader(cfg, split: str, *, batch_size: Optional[int] = None):
    """A loader over one split, built from ``cfg.test_dataloader`` (in dataset order)."""
    loader_cfg = copy.deepcopy(dict(cfg.test_dataloader))
    loader_cfg['dataset'] = dict(loader_cfg['dataset'], split=split)
    loader_cfg['dataset'].pop('generate_if_missing', None)
    if batch_size:
        loader_cfg['batch_size'] = batch_size
    return build_dataloader(loader_cfg, shuffle=False)


def concat_features(parts: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Stack several features dicts (same fields) into one."""
    first = parts[0]
    out: Dict[str, Any] = {}
    for key, value in first.items():
        values = [p[key] for p in parts]
        if isinstance(value, dict):
            out[key] = concat_features(values)
        elif isinstance(value, np.ndarray):
            out[key] = np.concatenate(values)
        else:
            out[key] = [item for v in values for item in v]
    return out


def extract_splits(model: nn.Module, cfg, splits: Iterable[str], *, kind: str = 'joint',
                   modalities: Optional[Sequence[str]] = None, accelerator=None,
                   keep_modalities: bool = False) -> Dict[str, Dict[str, Any]]:
    """Features of every split in ``splits`` (see :func:`m5mm.evaluation.extract_features`)."""
    features = {}
    for split in splits:
        loader = split_dataloader(cfg, split)
        if accelerator is not None:
            loader = accelerator.prepare_data_loader(loader)
        features[split] = extract_features(model, loader, kind=kind, modalities=modalities,
                                           accelerator=accelerator, keep_modalities=keep_modalities)
    return features


def evaluate_model(model: nn.Module, cfg, *, tasks: Sequence[str] = ('retrieval', 'classification', 'clustering'),
                   kind: str = 'joint', modalities: Optional[Sequence[str]] = None, accelerator=None) -> dict:
    """Run the named downstream ``tasks`` on ``model`` over the config's test data.

    Returns:
        ``{'retrieval_coarse': {...}, 'retrieval_fine': {...}, 'classification': {...},
        'clustering': {...}}`` for the tasks asked (fractions in [0, 1]).
    """
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise ValueError(f'unknown tasks {unknown}; choose from {sorted(TASKS)}')
    splits = sorted({s for t in tasks for s in TASKS[t][1]})
    features = extract_splits(model, cfg, splits, kind=kind, modalities=modalities, accelerator=accelerator)
    if 'query' in features and 'gallery' in features:
        features['test'] = concat_features([features['query'], features['gallery']])
    return run_tasks(features, [TASKS[t][0] for t in tasks])
