"""Evaluating a model on a config's data: features per split, then the downstream tasks.

Splits follow the M5Product protocol on the manifest's ``split`` field: retrieval ranks the
``gallery`` for each ``query``; classification scores ``test`` = query + gallery (products
unseen in pretraining) with a fine-tuned classifier's ``logits`` when the model returns them,
else with a linear probe trained on ``train``; clustering runs on ``test``; cross-modal
retrieval ranks one modality's pooled (uni-modal) vectors against another's on ``test``.

:func:`evaluate_checkpoint` is ``tools/test.py``: config + checkpoint in, ``results.json`` out.
"""
from __future__ import annotations

import copy
import json
import logging
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from m5mm.engine.data import build_dataloader, build_dataset
from m5mm.evaluation import extract_features, format_results, run_tasks, save_features

logger = logging.getLogger('m5mm')
PathLike = Union[str, Path]
CLASSIFICATION_SOURCES = ('auto', 'logits', 'probe')
CROSS_SPLIT = 'test_modalities'   # per-modality pooled vectors of the test split, for cross-modal retrieval

TASKS = {
    'retrieval': (dict(type='RetrievalTask', query_split='query', gallery_split='gallery'),
                  ('query', 'gallery')),
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


def _check_modalities(model: nn.Module, names: Iterable[str], what: str) -> None:
    net = model.module if hasattr(model, 'module') and not hasattr(model, 'modalities') else model
    known = getattr(net, 'modalities', None)
    unknown = sorted({m for m in names if known is not None and m not in known})
    if unknown:
        raise ValueError(f'{what}: {unknown} not among the model\'s modalities {list(known)}')


ALL_TASKS = ('retrieval', 'classification', 'clustering')


def evaluate_features(model: nn.Module, cfg, *, tasks: Sequence[str] = ALL_TASKS,
                      kind: str = 'joint', modalities: Optional[Sequence[str]] = None,
                      cross_modal: Union[str, Sequence, None] = None, classification: str = 'auto',
                      accelerator=None) -> Tuple[dict, dict, Dict[str, Dict[str, Any]]]:
    """Like :func:`evaluate_model`, also returning the task counts and the features of every split.

    Features are extracted once per split: ``query`` and ``gallery`` (``test`` = both) with
    ``kind``/``modalities``; ``train`` only when classification trains a linear probe;
    ``test_modalities`` (pooled per-modality vectors, all modalities) for cross-modal pairs,
    taken from the test pass when it already holds them (kind 'joint' or 'pooled', all modalities).

    Returns:
        (results, counts, features_by_split).
    """
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise ValueError(f'unknown tasks {unknown}; choose from {sorted(TASKS)}')
    if classification not in CLASSIFICATION_SOURCES:
        raise ValueError(f'classification must be one of {CLASSIFICATION_SOURCES}, got {classification!r}')
    pairs = parse_cross_modal(cross_modal)
    if modalities is not None:
        _check_modalities(model, modalities, 'modalities')
    _check_modalities(model, [m for pair in pairs for m in pair], 'cross-modal')
    reuse = bool(pairs) and modalities is None and kind in ('joint', 'pooled')
    features: Dict[str, Dict[str, Any]] = {}
    task_cfgs: List[dict] = []
    if tasks:
        features = extract_splits(model, cfg, ('query', 'gallery'), kind=kind, modalities=modalities,
                                  accelerator=accelerator, keep_modalities=reuse)
        features['test'] = concat_features([features['query'], features['gallery']])
    if 'classification' in tasks and (classification == 'probe' or
                                      (classification == 'auto' and 'logits' not in features['test'])):
        features.update(extract_splits(model, cfg, ('train',), kind=kind, modalities=modalities,
                                       accelerator=accelerator))
    task_cfgs += [dict(TASKS[t][0], source=classification) if t == 'classification' else dict(TASKS[t][0])
                  for t in ('retrieval', 'classification', 'clustering') if t in tasks]
    if pairs:
        if reuse:
            features[CROSS_SPLIT] = features['test']
        else:
            parts = extract_splits(model, cfg, ('query', 'gallery'), kind='pooled', accelerator=accelerator,
                                   keep_modalities=True)
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
                   accelerator=None) -> dict:
    """Run the named downstream ``tasks`` on ``model`` over the config's test data.

    Args:
        tasks: any of 'retrieval', 'classification', 'clustering'.
        kind: the feature scored: 'joint', 'fused' or 'pooled' (see ``extract_features``).
        modalities: compute every split's features with only these modalities present (None: all).
        cross_modal: pairs ``'text:image,image:text'`` for cross-modal retrieval (pooled vectors).
        classification: 'auto' (the model's ``logits`` if it returns them, else a linear probe),
            'logits' or 'probe'.

    Returns:
        ``{'retrieval_coarse': {...}, 'retrieval_fine': {...}, 'classification': {...},
        'clustering': {...}, 'retrieval_text2image': {...}}`` for what was asked (fractions in
        [0, 1]; ARI in [-0.5, 1]).
    """
    return evaluate_features(model, cfg, tasks=tasks, kind=kind, modalities=modalities,
                             cross_modal=cross_modal, classification=classification,
                             accelerator=accelerator)[0]


# ---------------------------------------------------------------------------- checkpoints

def resolve_checkpoint(checkpoint: PathLike) -> Path:
    """A weights file or checkpoint directory as is; a work dir -> its latest checkpoint."""
    from m5mm.engine.checkpoint import latest_checkpoint
    path = Path(checkpoint)
    if not path.exists():
        raise FileNotFoundError(f'no checkpoint at {path}')
    return path if path.is_file() else (latest_checkpoint(str(path)) or path)


def checkpoint_work_dir(checkpoint: PathLike) -> Path:
    """The work dir of a checkpoint: ``WORK/checkpoints/step_N`` -> ``WORK``; a file -> its folder."""
    path = Path(checkpoint).resolve()
    if path.is_file():
        return path.parent
    if path.parent.name == 'checkpoints' and (path / 'meta.json').is_file():
        return path.parent.parent
    return path


def default_test_dir(checkpoint: PathLike) -> Path:
    """``<the checkpoint's work dir>/test_<YYYYmmdd_HHMMSS>`` (``_1``, ``_2`` ... if taken)."""
    base = checkpoint_work_dir(checkpoint) / time.strftime('test_%Y%m%d_%H%M%S')
    path, n = base, 0
    while path.exists():
        n += 1
        path = base.with_name(f'{base.name}_{n}')
    return path


def build_model_for_eval(cfg, checkpoint: Optional[PathLike] = None) -> nn.Module:
    """``cfg.model`` built with the train dataset's ``meta``, ``checkpoint``'s weights loaded, in eval mode.

    A classifier's ``init_from`` is ignored (the checkpoint holds all its weights).
    """
    from m5mm.engine.builder import build_model, import_config_modules
    from m5mm.engine.weights import load_model_weights
    import_config_modules(cfg)
    dataset_cfg = copy.deepcopy(dict(cfg.train_dataloader.dataset))
    dataset_cfg.pop('generate_if_missing', None)
    meta = build_dataset(dataset_cfg).meta
    model_cfg = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(cfg.model)
    if model_cfg.get('init_from'):
        model_cfg['init_from'] = None
    model = build_model(model_cfg, meta)
    if checkpoint is not None:
        path = resolve_checkpoint(checkpoint)
        load_model_weights(model, path)
        logger.info('Loaded %s weights from %s', type(model).__name__, path)
    return model.eval()


def _device_and_accelerator(model: nn.Module):
    from m5mm.engine.accelerator import build_accelerator, launched_distributed
    if launched_distributed():   # accelerate launch / torchrun: features gathered from every process
        accelerator = build_accelerator(precision='no')
        return accelerator.prepare_model(model, evaluation_mode=True), accelerator
    return model.to('cuda' if torch.cuda.is_available() else 'cpu'), None


def evaluate_checkpoint(cfg, checkpoint: PathLike, *, work_dir: Optional[PathLike] = None,
                        tasks: Sequence[str] = ALL_TASKS, kind: str = 'joint',
                        modalities: Optional[Sequence[str]] = None,
                        cross_modal: Union[str, Sequence, None] = None, classification: str = 'auto',
                        save_splits: bool = False) -> Tuple[dict, Path]:
    """Evaluate ``checkpoint`` of ``cfg.model``; write ``WORK_DIR/results.json`` and ``test_info.json``.

    Args:
        work_dir: output folder (default :func:`default_test_dir`).
        save_splits: also write each split's features as ``WORK_DIR/features_<split>.npz``.
        tasks, kind, modalities, cross_modal, classification: see :func:`evaluate_model`.

    Returns:
        (results, work_dir).
    """
    checkpoint = resolve_checkpoint(checkpoint)   # bad arguments fail before the model is built
    pairs = parse_cross_modal(cross_modal)
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise ValueError(f'unknown tasks {unknown}; choose from {sorted(TASKS)}')
    if classification not in CLASSIFICATION_SOURCES:
        raise ValueError(f'classification must be one of {CLASSIFICATION_SOURCES}, got {classification!r}')
    out = Path(work_dir) if work_dir else default_test_dir(checkpoint)
    model, accelerator = _device_and_accelerator(build_model_for_eval(cfg, checkpoint))
    results, counts, features = evaluate_features(model, cfg, tasks=tasks, kind=kind, modalities=modalities,
                                                  cross_modal=pairs, classification=classification,
                                                  accelerator=accelerator)
    if accelerator is not None and not accelerator.is_main_process:
        return results, out
    out.mkdir(parents=True, exist_ok=True)
    (out / 'results.json').write_text(json.dumps(results, indent=2))
    info = dict(checkpoint=str(checkpoint), tasks=list(tasks), feature=kind,
                modalities=None if modalities is None else list(modalities),
                cross_modal=[':'.join(p) for p in pairs],
                classification='logits' if 'logits' in features.get('test', {}) and classification != 'probe'
                else 'probe' if 'classification' in tasks else None,
                num_samples={split: len(data['ids']) for split, data in features.items()}, counts=counts)
    (out / 'test_info.json').write_text(json.dumps(info, indent=2, default=str))
    if save_splits:
        for split, data in features.items():
            save_features(str(out / f'features_{split}.npz'), data)
    logger.info('Evaluation of %s (%s features):\n%s', info['checkpoint'], kind, format_results(results))
    return results, out


def export_features(cfg, checkpoint: PathLike, *, split: Union[str, Sequence[str]], out: PathLike,
                    kind: str = 'joint', modalities: Optional[Sequence[str]] = None,
                    per_modality: bool = False) -> Tuple[Dict[str, Any], str]:
    """Features of ``split`` (a name, ``'query,gallery'`` or a list) under ``checkpoint`` -> ``out`` (.npz).

    The file holds ``ids``, ``features`` (N, D) float32, the labels, ``present.<m>`` and, with
    ``per_modality``, ``features.<m>``; a classifier adds its ``logits`` (see ``save_features``).

    Returns:
        (features dict, path written).
    """
    splits = [s.strip() for s in split.split(',')] if isinstance(split, str) else list(split)
    checkpoint = resolve_checkpoint(checkpoint)
    model, accelerator = _device_and_accelerator(build_model_for_eval(cfg, checkpoint))
    if modalities is not None:
        _check_modalities(model, modalities, 'modalities')
    loader = split_dataloader(cfg, splits[0] if len(splits) == 1 else splits)
    if len(loader.dataset) == 0:
        raise ValueError(f'split {split!r} of the config\'s test dataset has no sample')
    if accelerator is not None:
        loader = accelerator.prepare_data_loader(loader)
    features = extract_features(model, loader, kind=kind, modalities=modalities, keep_modalities=per_modality,
                                accelerator=accelerator)
    path = str(out)
    if accelerator is None or accelerator.is_main_process:
        path = save_features(path, features)
    return features, path
