"""Each modality's spec and transform pipeline, and running a pipeline on one record's field.

This is what a dataset does for every sample, usable without a dataset: :class:`RecordDataset`
(records given in memory, e.g. by ``m5mm.api.ProductEncoder``) runs exactly the pipelines that
:class:`BaseProductDataset` runs for training and evaluation.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np

from m5mm.registry import MODALITIES
from m5mm.structures import BUILTIN_MODALITIES

from .errors import MediaError
from .modalities.base_modality import ModalitySpec
from .paths import resolve_media_path
from .transforms.compose import Compose

logger = logging.getLogger('m5mm')

MODALITY_CFG_KEYS = ('pipeline', 'source', 'spec')


def build_modality_pipelines(modalities: Optional[Mapping[str, Optional[dict]]]
                             ) -> Tuple[Dict[str, ModalitySpec], Dict[str, Compose]]:
    """Specs and pipelines from a dataset's ``modalities`` config.

    Args:
        modalities: name -> ``dict(pipeline=[transform cfgs], source='raw'|'feature', spec=dict(...))``;
            None = the five built-in modalities with their default pipelines.

    Returns:
        (name -> :class:`ModalitySpec`, name -> :class:`Compose`), in the config's order.
    """
    if modalities is None:
        modalities = {name: None for name in BUILTIN_MODALITIES}
    if not modalities:
        raise ValueError('modalities is empty: configure at least one modality')
    specs: Dict[str, ModalitySpec] = {}
    pipelines: Dict[str, Compose] = {}
    for name, cfg in modalities.items():
        cfg = dict(cfg or {})
        unknown = set(cfg) - set(MODALITY_CFG_KEYS)
        if unknown:
            raise ValueError(f'modalities.{name} has unknown keys {sorted(unknown)}; '
                             f'accepted: {", ".join(MODALITY_CFG_KEYS)}')
        spec = MODALITIES.build(dict(type=name, source=cfg.get('source', 'raw'), **(cfg.get('spec') or {})))
        pipeline = cfg.get('pipeline')
        specs[name] = spec
        pipelines[name] = Compose(transforms=spec.default_pipeline() if pipeline is None else pipeline)
    return specs, pipelines


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """Augmentation seed of sample ``index`` (a function of seed, epoch and index only)."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])


def load_modality_item(name: str, spec: ModalitySpec, pipeline: Compose, record: dict, *, index: int,
                       data_root: str, tokenizer: Any, seed: int,
                       errors: Optional[Dict[str, str]] = None) -> Optional[Dict[str, Any]]:
    """Run modality ``name``'s pipeline on a normalised ``record`` (see :mod:`m5mm.datasets.records`).

    Returns:
        The sample entry (the spec's item keys), or None when the modality is absent or its media
        cannot be used (the reason goes to ``errors[name]`` and the log).
    """
    value = record['fields'][name]
    if value is None:
        return None
    results = dict(id=record['id'], index=index, modality=name, source=spec.source, data_root=data_root,
                   tokenizer=tokenizer, seed=seed)
    try:
        if spec.reads_path:
            results['path'] = resolve_media_path(data_root, value)
        else:
            results['value'] = value
        results = pipeline(results)
    except MediaError as exc:
        if errors is not None:
            errors[name] = exc.reason
        logger.warning('m5mm: %s of %r treated as absent: %s', name, record['id'], exc)
        return None
    missing = [k.name for k in spec.item_keys if k.name not in results]
    if missing:
        raise KeyError(f'the {name} pipeline {pipeline!r} did not produce {missing}')
    return {k.name: results[k.name] for k in spec.item_keys}
