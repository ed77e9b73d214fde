"""Evaluating a model on a config's data: features per split, then the downstream tasks.

Splits follow the M5Product protocol on the manifest's ``split`` field: retrieval ranks the
``gallery`` for each ``query``; classification scores ``test`` = query + gallery (products
unseen in pretraining) with a fine-tuned classifier's ``logits`` when the model returns them,
else with a linear probe trained on ``train``; clustering runs on ``test``; cross-modal
retrieval ranks one modality's pooled (uni-modal) vectors against another's on ``test``.

:mod:`m5mm.evaluation.evaluate_checkpoint` builds ``tools/test.py`` and ``tools/extract_features.py`` on it.
"""
from __future__ import annotations

import copy
import logging
import time
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
from torch import nn

from m5mm.datasets.loaders import build_dataloader, describe_empty_split, prepare_eval_loader
from m5mm.evaluation.features import extract_features
from m5mm.evaluation.partial_queries import partial_query_splits
from m5mm.evaluation.tasks import run_tasks
from m5mm.evaluation.tasks.named import CLASSIFICATION_SOURCES, check_tasks, task_type
from m5mm.evaluation.text_queries import text_splits
from m5mm.utils.config import reading_dataset_cfg
from m5mm.utils.distributed import unwrap_model

logger = logging.getLogger(__name__)
CROSS_SPLIT = 'test_modalities'   # per-modality pooled vectors of the test split, for cross-modal retrieval
TEXT_REFERENCE_GALLERY = 'gallery@text'   # partial_query's text-only gallery; text_retrieval is also ranked on it
#: The feature sets a named task declares in ``inputs``: ``test`` (the ``query`` and ``gallery`` splits as
#: extracted, and ``test``, both), ``train`` (the train split, extracted only when a linear probe needs it),
#: ``category_prompts`` and ``text_queries`` (texts embedded alone, :mod:`m5mm.evaluation.text_queries`) and
#: ``partial_queries`` (queries with some modalities dropped, :mod:`m5mm.evaluation.partial_queries`).
INPUTS = ('test', 'train', 'category_prompts', 'text_queries', 'partial_queries')
_TEXT_INPUTS = ('category_prompts', 'text_queries')


def split_dataloader(cfg, split: str, *, batch_size: Optional[int] = None):
    """A loader over one split, built from ``cfg.test_dataloader`` (in dataset order)."""
    loader_cfg = copy.deepcopy(dict(cfg.test_dataloader))
    loader_cfg['dataset'] = dict(reading_dataset_cfg(loader_cfg['dataset']), split=split)
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
                   keep_modalities: bool = False, media: Optional[dict] = None) -> Dict[str, Dict[str, Any]]:
    """Features of every split in ``splits`` (see :func:`m5mm.evaluation.extract_features`).

    Args:
        media: when given, receives ``{split: (MediaReport over all processes, the split's dataset)}``.
    """
    from m5mm.datasets import MediaReport
    from m5mm.datasets.media_log import gather_report
    features = {}
    for split in splits:
        loader = split_dataloader(cfg, split)
        dataset = loader.dataset
        if len(dataset) == 0:
            raise ValueError(describe_empty_split(dataset, f'{split!r} evaluation'))
        if accelerator is not None:
            loader = prepare_eval_loader(loader, accelerator)
        report = MediaReport()
        start = time.perf_counter()
        features[split] = extract_features(model, loader, kind=kind, modalities=modalities,
                                           accelerator=accelerator, keep_modalities=keep_modalities,
                                           media_report=report)
        logger.info('features of the %s split: %d products in %.1f s%s', split, len(dataset),
                    time.perf_counter() - start, f' ({"+".join(modalities)} present)' if modalities else '')
        if media is not None and split not in media:
            media[split] = (gather_report(report, accelerator), dataset)
    return features


def parse_cross_modal(spec: Union[str, Sequence, None]) -> List[Tuple[str, str]]:
    """``'text:image,image:text'`` (or a list of such strings / pairs) -> ``[('text', 'image'), ...]``."""
    if not spec:
        return []
    items = spec.split(',') if isinstance(spec, str) else list(spec)
    pairs = []
    for item in items:
        pair = tuple(p.strip() for p in item.split(':')) if isinstance(item, str) else tuple(item)
        if len(pair) != 2 or not all(pair) or pair[0] == pair[1]:
            raise ValueError(f'cross-modal pair {item!r} must be QUERY:GALLERY of two different modalities, '
                             f'e.g. text:image')
        pairs.append(pair)
    return pairs


def check_modalities(model: nn.Module, names: Iterable[str], what: str) -> None:
    known = getattr(unwrap_model(model), 'modalities', None)
    unknown = sorted({m for m in names if known is not None and m not in known})
    if unknown:
        raise ValueError(f'{what}: {unknown} not among the model\'s modalities {list(known)}')


ALL_TASKS = ('retrieval', 'classification', 'clustering')
#: 0.2 name of the classification sources (``m5mm.evaluation.tasks.named.CLASSIFICATION_SOURCES``)
CLASSIFICATION_SOURCES = CLASSIFICATION_SOURCES


def evaluate_features(model: nn.Module, cfg, *, tasks: Sequence[str] = ALL_TASKS,
                      kind: str = 'joint', modalities: Optional[Sequence[str]] = None,
                      cross_modal: Union[str, Sequence, None] = None, classification: str = 'auto',
                      accelerator=None, task_options: Optional[Dict[str, dict]] = None,
                      media: Optional[dict] = None) -> Tuple[dict, dict, Dict[str, Dict[str, Any]]]:
    """Like :func:`evaluate_model`, also returning the task counts and the features of every split.

    Features are extracted once per split: ``query`` and ``gallery`` (``test`` = both) with
    ``kind``/``modalities``; ``train`` only when classification trains a linear probe;
    ``test_modalities`` (pooled per-modality vectors, all modalities) for cross-modal pairs,
    taken from the test pass when it already holds them (kind 'joint' or 'pooled', all modalities);
    ``category_prompts`` / ``text_queries`` (texts embedded with only ``text`` present, see
    :mod:`m5mm.evaluation.text_queries`) for 'zero_shot' / 'text_retrieval', whose ``task_options``
    are ``{'zero_shot': {'prompts': [...]}, 'text_retrieval': {'query_file': PATH}}``; ``query@S`` /
    ``gallery@text`` (the query split with only the modalities S, the text-only gallery, see
    :mod:`m5mm.evaluation.partial_queries`) for 'partial_query', whose options are
    ``{'partial_query': {'subsets': [[..], ..], 'reference': [..]}}``; with 'text_retrieval' too, the text
    queries are also ranked on ``gallery@text`` (``text_retrieval_ref``).

    Args:
        media: receives each split's media report (see :func:`extract_splits`).

    Returns:
        (results, counts by result name, features_by_split).
    """
    classes = dict(zip(tasks, check_tasks(tasks, classification=classification)))
    needs = {name: set(cls.inputs) for name, cls in classes.items()}
    bad = sorted({i for inputs in needs.values() for i in inputs} - set(INPUTS))
    if bad:
        raise ValueError(f'tasks {sorted(n for n in needs if needs[n] & set(bad))} need inputs {bad}, which '
                         f'evaluation does not make; it makes {INPUTS}')
    pairs = parse_cross_modal(cross_modal)
    if modalities is not None:
        check_modalities(model, modalities, 'modalities')
    check_modalities(model, [m for pair in pairs for m in pair], 'cross-modal')
    reuse = bool(pairs) and modalities is None and kind in ('joint', 'pooled')
    features: Dict[str, Dict[str, Any]] = {}
    task_cfgs: List[dict] = []
    if tasks:
        features = extract_splits(model, cfg, ('query', 'gallery'), kind=kind, modalities=modalities,
                                  accelerator=accelerator, keep_modalities=reuse, media=media)
        features['test'] = concat_features([features['query'], features['gallery']])
    if any('train' in needs[t] for t in tasks) and (classification == 'probe' or
                                                    (classification == 'auto' and 'logits' not in features['test'])):
        features.update(extract_splits(model, cfg, ('train',), kind=kind, modalities=modalities,
                                       accelerator=accelerator, media=media))
    task_cfgs += [dict(type=task_type(classes[t]), **({'source': classification} if 'train' in needs[t] else {}))
                  for t in tasks if needs[t] <= {'test', 'train'}]
    for t in tasks:
        if 'partial_queries' in needs[t]:
            splits, partial_cfg = partial_query_splits(model, cfg, kind=kind, accelerator=accelerator, media=media,
                                                       **dict((task_options or {}).get(t) or {}))
            features.update(splits)
            task_cfgs.append(partial_cfg)
    text_tasks = [t for t in tasks if needs[t] & set(_TEXT_INPUTS)]
    if text_tasks:
        dataset = split_dataloader(cfg, 'gallery').dataset
        text_needs = {i: (task_options or {}).get(t) for t in text_tasks for i in needs[t] if i in _TEXT_INPUTS}
        splits, updates = text_splits(model, dataset, text_needs, kind=kind,
                                      batch_size=cfg.test_dataloader.get('batch_size', 64))
        features.update(splits)
        for t in text_tasks:
            extra = {k: v for i in sorted(needs[t]) for k, v in updates.get(i, {}).items()}
            task_cfgs.append(dict(type=task_type(classes[t]), **extra))
            if 'text_queries' in needs[t] and TEXT_REFERENCE_GALLERY in features:   # the text-only index
                task_cfgs.append(dict(type=task_type(classes[t]), **extra, gallery_split=TEXT_REFERENCE_GALLERY,
                                      name=f'{t}_ref'))
    if pairs:
        if reuse:
            features[CROSS_SPLIT] = features['test']
        else:
            parts = extract_splits(model, cfg, ('query', 'gallery'), kind='pooled', accelerator=accelerator,
                                   keep_modalities=True, media=media)
            features[CROSS_SPLIT] = concat_features([parts['query'], parts['gallery']])
        task_cfgs += [dict(type='CrossModalRetrievalTask', query_modality=q, gallery_modality=g,
                           query_split=CROSS_SPLIT) for q, g in pairs]
    if not task_cfgs:
        raise ValueError('nothing to evaluate: give tasks and/or cross-modal pairs')
    results, counts = run_tasks(features, task_cfgs, return_counts=True)
    return results, counts, features


def evaluate_model(model: nn.Module, cfg, *, tasks: Sequence[str] = ALL_TASKS,
                   kind: str = 'joint', modalities: Optional[Sequence[str]] = None,
                   cross_modal: Union[str, Sequence, None] = None, classification: str = 'auto',
                   accelerator=None, task_options: Optional[Dict[str, dict]] = None) -> dict:
    """Run the named downstream ``tasks`` on ``model`` over the config's test data.

    Args:
        tasks: any of 'retrieval', 'classification', 'clustering', 'zero_shot', 'text_retrieval',
            'presence', 'partial_query'.
        kind: the feature scored: 'joint', 'fused' or 'pooled' (see ``extract_features``).
        modalities: compute every split's features with only these modalities present (None: all).
        cross_modal: pairs ``'text:image,image:text'`` for cross-modal retrieval (pooled vectors).
        classification: 'auto' (the model's ``logits`` if it returns them, else a linear probe),
            'logits' or 'probe'.
        task_options: options of the text and partial-query tasks (see :func:`evaluate_features`).

    Returns:
        ``{'retrieval_coarse': {...}, 'retrieval_fine': {...}, 'classification': {...},
        'clustering': {...}, 'zero_shot': {...}, 'text_retrieval': {...}, 'retrieval_text2image': {...}}``
        for what was asked (fractions in [0, 1]; ARI in [-0.5, 1]).
    """
    return evaluate_features(model, cfg, tasks=tasks, kind=kind, modalities=modalities,
                             cross_modal=cross_modal, classification=classification,
                             accelerator=accelerator, task_options=task_options)[0]
