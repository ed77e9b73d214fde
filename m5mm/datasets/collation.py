"""Turning a list of samples into a batch dict (see docs/concepts.md)."""
from __future__ import annotations

from typing import Callable, Dict, List, Mapping, Optional

import torch

from m5mm.registry import MODALITIES
from m5mm.structures import META_KEY
from m5mm.utils.build import find_registered

from .modalities.base_modality import ModalitySpec, Template

SAMPLE_META_KEYS = ('id', 'index', 'category', 'instance', 'errors')


def _specs_from_samples(samples: List[dict]) -> Dict[str, ModalitySpec]:
    from m5mm.utils.plugins import load_plugins
    load_plugins()  # a plugin's modality (e.g. 'pointcloud') is registered by importing the plugin
    specs = {}
    for name in samples[0]:
        if name in SAMPLE_META_KEYS:
            continue
        if find_registered(MODALITIES, name) is None:
            raise KeyError(f'sample key {name!r} is not a registered modality (MODALITIES has '
                           f'{sorted(MODALITIES.module_dict)}); pass modalities= explicitly')
        first = next((s[name] for s in samples if s.get(name) is not None), None)
        source = 'feature' if first is not None and 'feats' in first else 'raw'
        specs[name] = MODALITIES.build(dict(type=name, source=source))
    return specs


def collate(samples: List[dict], *, modalities: Optional[Mapping[str, ModalitySpec]] = None,
            template_fn: Optional[Callable[[str], Optional[Template]]] = None) -> dict:
    """Batch samples of ``dataset[i]``.

    Args:
        samples: B sample dicts.
        modalities: name -> spec; default: the registered spec of every modality key in the
            samples (features variant when an entry has ``feats``).
        template_fn: name -> item template, used when no sample of the batch has the modality.

    Returns:
        One entry per modality (``present`` (B,) + its padded keys and mask) and ``meta``:
        ``ids`` list, ``index``/``category``/``instance`` (B,) long, ``errors`` list of dicts.
    """
    if not samples:
        raise ValueError('cannot collate an empty list of samples')
    specs = dict(modalities) if modalities is not None else _specs_from_samples(samples)
    batch = {}
    for name, spec in specs.items():
        items = [sample.get(name) for sample in samples]
        template = None
        if template_fn is not None and all(item is None for item in items):
            template = template_fn(name)
        batch[name] = spec.collate(items, template)
    batch[META_KEY] = {
        'ids': [s['id'] for s in samples],
        'index': torch.tensor([s.get('index', -1) for s in samples], dtype=torch.long),
        'category': torch.tensor([s.get('category', -1) for s in samples], dtype=torch.long),
        'instance': torch.tensor([s.get('instance', -1) for s in samples], dtype=torch.long),
        'errors': [dict(s.get('errors') or {}) for s in samples],
    }
    return batch
