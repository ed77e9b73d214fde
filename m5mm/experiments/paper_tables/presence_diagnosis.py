"""Issue 22: does a product vector say what the product is, or which modalities it has? Numbers from one model.

:func:`presence_diagnosis` evaluates a trained model on its config's test data with the tasks
``retrieval``, ``classification``, ``presence``, ``partial_query`` and ``text_retrieval`` (the
partial-query reference included, see :mod:`m5mm.evaluation.partial_queries`) and adds:

* ``pattern_spread``: per presence pattern of the test products, the number of products and the
  mean pairwise cosine of their ``joint`` vectors (:func:`~m5mm.models.backbones.spread.embedding_spread`);
  ``query_spread``: the same for the query products encoded with only each subset (``query@text``
  ...), and for the text queries of the query file (``text_queries``: "teapot" vs "red sneakers");
* ``diagnosis`` (first joint form only): :func:`~m5mm.experiments.paper_tables.diagnosis.diagnose_model`'s
  per-tower pooled / fused spread and single-source retrieval.

With ``joints`` the model is evaluated once per way of forming ``joint`` (the backbone's
``joint_source``, e.g. ``('fusion', 'centred')`` for a model trained with ``joint='centred'``,
whose training is the same as with ``'fusion'``).
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Mapping, Optional, Sequence

import numpy as np
import torch

from m5mm.evaluation.metrics.presence import presence_patterns
from m5mm.models.backbones.spread import embedding_spread

logger = logging.getLogger(__name__)
PRESENCE_TASKS = ('retrieval', 'classification', 'presence', 'partial_query', 'text_retrieval')


def _cos(x: np.ndarray) -> Optional[float]:
    if x.shape[0] < 2:
        return None
    return round(float(embedding_spread(torch.as_tensor(x, dtype=torch.float32))['cos']), 4)


def pattern_spread(data: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
    """{pattern: {'n': .., 'cos': mean pairwise cosine of its rows' features}} of a features dict."""
    codes, names = presence_patterns(data['present'])
    feats = np.asarray(data['features'])
    return {name: dict(n=int((codes == k).sum()), cos=_cos(feats[codes == k])) for k, name in enumerate(names)}


def split_spread(features: Mapping[str, Mapping[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """{split: {'n', 'cos'}} of every partial-query and text-query split."""
    out = {}
    for split, data in features.items():
        if '@' in split or split == 'text_queries':
            feats = np.asarray(data['features'])
            out[split] = dict(n=int(feats.shape[0]), cos=_cos(feats))
    return out


def _round(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _round(v) for k, v in tree.items()}
    if isinstance(tree, float):
        return round(tree, 4)
    return tree


def presence_diagnosis(model, cfg, *, joints: Sequence[str] = ('fusion',),
                       tasks: Sequence[str] = PRESENCE_TASKS) -> Dict[str, Any]:
    """``{joint: {'metrics', 'counts', 'pattern_spread', 'query_spread', 'diagnosis'}}`` for a trained
    ``MultiModalModel`` on ``cfg``'s test data (see the module docstring)."""
    from m5mm.evaluation.evaluate import evaluate_features
    from .diagnosis import diagnose_model
    backbone = model.backbone
    original = backbone.joint_source
    out: Dict[str, Any] = {}
    try:
        for joint in joints:
            if joint == 'centred' and getattr(backbone, 'centre', None) is None:
                raise ValueError("joint='centred' needs a model trained with joint='centred' (its running centre)")
            backbone.joint_source = joint
            metrics, counts, features = evaluate_features(model, cfg, tasks=tasks, classification='probe')
            out[joint] = dict(metrics=_round(metrics), counts=counts, pattern_spread=pattern_spread(features['test']),
                              query_spread=split_spread(features))
            if joint == joints[0]:   # the towers' numbers do not depend on how joint is formed
                diagnosis = diagnose_model(model, cfg)
                out[joint]['diagnosis'] = dict(spread=diagnosis['spread'], retrieval=diagnosis['retrieval'],
                                               distinct_top1=diagnosis['distinct_top1'])
            logger.info('presence diagnosis (joint=%s): %s', joint, out[joint]['metrics'].get('presence'))
    finally:
        backbone.joint_source = original
    return out
