"""``tools/test.py`` and ``tools/extract_features.py`` as functions: config + checkpoint in, files out."""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from m5mm.checkpoint.manager import checkpoint_work_dir, resolve_checkpoint
from m5mm.datasets.loaders import build_dataset, prepare_eval_loader
from m5mm.datasets.media_log import report_entry
from m5mm.evaluation.evaluate import (ALL_TASKS, check_modalities, evaluate_features, parse_cross_modal,
                                      split_dataloader)
from m5mm.evaluation.features import extract_features, save_features
from m5mm.evaluation.report import QUERY_COUNTS, results_document, warn_about_queries
from m5mm.evaluation.tasks import check_tasks, format_results
from m5mm.utils.config import reading_dataset_cfg
from m5mm.utils.plugins import import_config_modules

logger = logging.getLogger(__name__)
PathLike = Union[str, Path]
#: the CHECKPOINT of a model that needs no weights (``needs_weights = False``, e.g. ``FrozenConcatModel``)
NO_WEIGHTS = 'none'
#: where the results of a model without weights go by default
NO_WEIGHTS_WORK_DIR = Path('work_dirs')


def default_test_dir(checkpoint: Optional[PathLike]) -> Path:
    """``<the checkpoint's work dir>/test_<YYYYmmdd_HHMMSS>`` (``_1``, ``_2`` ... if taken; no checkpoint:
    under :data:`NO_WEIGHTS_WORK_DIR`)."""
    folder = NO_WEIGHTS_WORK_DIR if checkpoint is None else checkpoint_work_dir(checkpoint)
    base = folder / time.strftime('test_%Y%m%d_%H%M%S')
    path, n = base, 0
    while path.exists():
        n += 1
        path = base.with_name(f'{base.name}_{n}')
    return path


def build_model_for_eval(cfg, checkpoint: Optional[PathLike] = None, *, meta: Optional[dict] = None) -> nn.Module:
    """``cfg.model`` built with the train dataset's ``meta``, ``checkpoint``'s weights loaded, in eval mode.

    A classifier's ``init_from`` is ignored (the checkpoint holds all its weights). ``meta``: the
    train dataset's meta when the caller has it (else the dataset is built to read it).
    """
    from m5mm.models.builders import build_model
    from m5mm.checkpoint.weights import load_model_weights
    import_config_modules(cfg)
    if meta is None:
        meta = build_dataset(reading_dataset_cfg(cfg.train_dataloader.dataset)).meta
    model_cfg = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(cfg.model)
    if model_cfg.get('init_from'):
        model_cfg['init_from'] = None
    model = build_model(model_cfg, meta)
    if checkpoint is not None:
        path = resolve_checkpoint(checkpoint)
        load_model_weights(model, path)
        logger.info('Loaded %s weights from %s', type(model).__name__, path)
    return model.eval()


def resolve_weights(checkpoint: Optional[PathLike]) -> Optional[Path]:
    """A checkpoint argument -> its weights path, or None for :data:`NO_WEIGHTS` (``'none'``) or None."""
    if checkpoint is None or str(checkpoint).lower() == NO_WEIGHTS:
        return None
    return resolve_checkpoint(checkpoint)


def build_eval_model(cfg, checkpoint: Optional[Path]) -> nn.Module:
    """:func:`build_model_for_eval`; without a checkpoint only for a model that needs no weights."""
    model = build_model_for_eval(cfg, checkpoint)
    if checkpoint is None and getattr(model, 'needs_weights', True):
        raise ValueError(f'CHECKPOINT {NO_WEIGHTS!r} is only for a model that needs no trained weights (such as '
                         f'FrozenConcatModel); {type(model).__name__} does: give its checkpoint')
    return model


def _device_and_accelerator(model: nn.Module):
    from m5mm.utils.accelerator import build_accelerator, launched_distributed
    if launched_distributed():   # accelerate launch / torchrun: features gathered from every process
        accelerator = build_accelerator(precision='no')
        return accelerator.prepare_model(model, evaluation_mode=True), accelerator
    return model.to('cuda' if torch.cuda.is_available() else 'cpu'), None


def evaluate_checkpoint(cfg, checkpoint: Optional[PathLike], *, work_dir: Optional[PathLike] = None,
                        tasks: Sequence[str] = ALL_TASKS, kind: str = 'joint',
                        modalities: Optional[Sequence[str]] = None,
                        cross_modal: Union[str, Sequence, None] = None, classification: str = 'auto',
                        save_splits: bool = False, task_options: Optional[Dict[str, dict]] = None
                        ) -> Tuple[dict, Path]:
    """Evaluate ``checkpoint`` of ``cfg.model``; write ``WORK_DIR/results.json`` and ``test_info.json``.

    Args:
        checkpoint: see ``tools/test.py``; None or ``'none'`` for a model without weights
            (``needs_weights = False``, e.g. ``FrozenConcatModel``).
        work_dir: output folder (default :func:`default_test_dir`).
        save_splits: also write each split's features as ``WORK_DIR/features_<split>.npz``.
        tasks, kind, modalities, cross_modal, classification, task_options: see :func:`evaluate_model`.

    Returns:
        (results, work_dir).
    """
    checkpoint = resolve_weights(checkpoint)   # bad arguments fail before the model is built
    pairs = parse_cross_modal(cross_modal)
    import_config_modules(cfg)   # a plugin's task names are known from here on
    check_tasks(tasks, classification=classification)
    out = Path(work_dir) if work_dir else default_test_dir(checkpoint)
    model, accelerator = _device_and_accelerator(build_eval_model(cfg, checkpoint))
    media: dict = {}
    results, counts, features = evaluate_features(model, cfg, tasks=tasks, kind=kind, modalities=modalities,
                                                  cross_modal=pairs, classification=classification,
                                                  accelerator=accelerator, task_options=task_options,
                                                  media=media)
    if accelerator is not None and not accelerator.is_main_process:
        return results, out
    out.mkdir(parents=True, exist_ok=True)
    document = results_document(results, counts)
    (out / 'results.json').write_text(json.dumps(document, indent=2))
    warn_about_queries(document.get(QUERY_COUNTS, {}))
    info = dict(checkpoint=str(checkpoint or NO_WEIGHTS), tasks=list(tasks), feature=kind,
                modalities=None if modalities is None else list(modalities),
                cross_modal=[':'.join(p) for p in pairs],
                classification='logits' if 'logits' in features.get('test', {}) and classification != 'probe'
                else 'probe' if 'classification' in tasks else None,
                num_samples={split: len(data['ids']) for split, data in features.items()}, counts=counts,
                media_errors={split: report_entry(report) for split, (report, _) in media.items()})
    for split, (report, _) in media.items():
        if report.total:
            logger.warning('Split %s: %s', split, report.summary())
    (out / 'test_info.json').write_text(json.dumps(info, indent=2, default=str))
    if save_splits:
        for split, data in features.items():
            save_features(str(out / f'features_{split}.npz'), data)
    logger.info('Evaluation of %s (%s features):\n%s', info['checkpoint'], kind, format_results(results))
    return results, out


def export_features(cfg, checkpoint: Optional[PathLike], *, split: Union[str, Sequence[str]], out: PathLike,
                    kind: str = 'joint', modalities: Optional[Sequence[str]] = None,
                    per_modality: bool = False) -> Tuple[Dict[str, Any], str]:
    """Features of ``split`` (a name, ``'query,gallery'`` or a list) under ``checkpoint`` -> ``out`` (.npz).

    The file holds ``ids``, ``features`` (N, D) float32, the labels, ``present.<m>`` and, with
    ``per_modality``, ``features.<m>``; a classifier adds its ``logits`` (see ``save_features``).

    Returns:
        (features dict, path written).
    """
    splits = [s.strip() for s in split.split(',')] if isinstance(split, str) else list(split)
    checkpoint = resolve_weights(checkpoint)   # 'none': a model without weights, as in evaluate_checkpoint
    model, accelerator = _device_and_accelerator(build_eval_model(cfg, checkpoint))
    if modalities is not None:
        check_modalities(model, modalities, 'modalities')
    loader = split_dataloader(cfg, splits[0] if len(splits) == 1 else splits)
    if len(loader.dataset) == 0:
        raise ValueError(f'split {split!r} of the config\'s test dataset has no sample')
    if accelerator is not None:
        loader = prepare_eval_loader(loader, accelerator)
    features = extract_features(model, loader, kind=kind, modalities=modalities, keep_modalities=per_modality,
                                accelerator=accelerator)
    path = str(out)
    if accelerator is None or accelerator.is_main_process:
        path = save_features(path, features)
    return features, path
