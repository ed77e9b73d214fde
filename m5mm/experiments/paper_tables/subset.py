"""Restricting a config to a subset of its modalities.

The model owns the rule: its ``modalities`` keeps those encoders, and every objective that needs
another modality (or, with one modality left, a second one: contrastive, matching) is dropped
(:func:`m5mm.models.objectives.select_objectives`); ``ScalePretrainer`` derives its objectives
from the modalities it keeps. Here the config only gets ``model.modalities`` and every dataset
reads only the kept modalities.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Sequence, Tuple

from mmengine.config import Config

from m5mm.models.objectives import select_objectives
from m5mm.utils.config import iter_dataset_cfgs


def restrict_model(model: Dict[str, Any], modalities: Sequence[str]) -> Tuple[dict, List[str]]:
    """A copy of the ``model`` config keeping ``modalities``; returns it and the names of the configured
    objectives the model will drop (none for objectives derived from the modalities).

    Raises:
        KeyError: a kept modality has no encoder in the config.
        ValueError: no configured objective is left for the kept modalities.
    """
    model = copy.deepcopy(dict(model))
    encoders = dict(model.get('encoders') or {})
    configured = [m for m, enc in encoders.items() if enc is not None and m in (model.get('modalities') or encoders)]
    missing = [m for m in modalities if m not in configured]
    if missing:
        raise KeyError(f'the model has no encoder for {missing}; its encoders: {configured}')
    kept = [m for m in configured if m in modalities]
    model['modalities'] = kept
    dropped: List[str] = []
    if model.get('objectives') is not None:
        left, dropped = select_objectives(model['objectives'], kept)
        if not left:
            raise ValueError(f'no objective of the model applies to the modalities {list(modalities)} '
                             f'(dropped: {dropped}); this method cannot be trained on them')
    return model, dropped


def restrict_datasets(cfg_dict: Dict[str, Any], modalities: Sequence[str]) -> int:
    """Make every dataset in ``cfg_dict`` (in place) read only ``modalities``; returns how many."""
    count = 0
    for dataset in iter_dataset_cfgs(cfg_dict):
        specs = dataset.get('modalities')
        if specs is None:
            continue
        missing = [m for m in modalities if m not in specs]
        if missing:
            raise KeyError(f'dataset {dataset.get("type")} (split {dataset.get("split")}) has no modality '
                           f'{missing}; its modalities: {list(specs)}')
        dataset['modalities'] = {m: spec for m, spec in specs.items() if m in modalities}
        count += 1
    return count


def restrict_modalities(cfg: Config, modalities: Sequence[str]) -> Tuple[Config, List[str]]:
    """A copy of ``cfg`` (model and datasets) restricted to ``modalities``.

    Returns:
        The new config and the names of the configured objectives the model will drop.
    """
    if not modalities:
        raise ValueError('restrict_modalities needs at least one modality')
    cfg_dict = cfg.to_dict() if hasattr(cfg, 'to_dict') else copy.deepcopy(dict(cfg))
    if cfg_dict.get('model') is None:
        raise KeyError('the config has no `model` to restrict')
    cfg_dict['model'], dropped = restrict_model(cfg_dict['model'], modalities)
    restrict_datasets(cfg_dict, modalities)
    return Config(cfg_dict), dropped
