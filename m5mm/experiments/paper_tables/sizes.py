"""Model-size presets of the benchmark: ``small`` (the configs as written, width 256) and ``tiny``.

``tiny`` rewrites every width, depth and head count in a model config (whatever the method), so
that a cell trains in seconds: for tests and smoke runs of the benchmark tool, not for results.
A key the user set explicitly (``--cfg-options train_dataloader.batch_size=16``) keeps its value.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import AbstractSet, Any, Dict, Optional

WIDTH_KEYS = ('dim', 'hidden_size', 'out_dim')
DEPTH_KEYS = ('depth', 'num_layers', 'intra_depth')


@dataclass(frozen=True)
class SizePreset:
    """A rewrite of model and data sizes (None: keep the config's)."""

    width: Optional[int] = None
    depth: Optional[int] = None
    num_heads: Optional[int] = None
    batch_size: Optional[int] = None
    num_workers: Optional[int] = None
    vocab_size: Optional[int] = None


SIZES: Dict[str, SizePreset] = {
    'small': SizePreset(),
    'tiny': SizePreset(width=32, depth=1, num_heads=2, batch_size=8, num_workers=0, vocab_size=500),
}


def get_size(name: str) -> SizePreset:
    """The preset called ``name``."""
    if name not in SIZES:
        raise ValueError(f'unknown config size {name!r}; choose from {", ".join(SIZES)}')
    return SIZES[name]


def shrink_model(node: Any, preset: SizePreset, *, path: str = 'model', keep: AbstractSet[str] = frozenset()) -> Any:
    """A copy of a model config with every width / depth / head-count key rewritten by ``preset``,
    except the dotted keys in ``keep`` (``node`` is the config at ``path``)."""
    if isinstance(node, (list, tuple)):
        return type(node)(shrink_model(v, preset, path=f'{path}.{i}', keep=keep) for i, v in enumerate(node))
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if f'{path}.{key}' in keep:
            out[key] = value
        elif isinstance(value, int) and not isinstance(value, bool):
            if key in WIDTH_KEYS and preset.width:
                value = preset.width
            elif key == 'intermediate_size' and preset.width:
                value = 2 * preset.width
            elif key in DEPTH_KEYS and preset.depth:
                value = min(value, preset.depth)
            elif key == 'num_heads' and preset.num_heads:
                value = preset.num_heads
            out[key] = value
        else:
            out[key] = shrink_model(value, preset, path=f'{path}.{key}', keep=keep)
    return out


def apply_size(cfg_dict: Dict[str, Any], preset: SizePreset, keep: AbstractSet[str] = frozenset()) -> Dict[str, Any]:
    """A copy of a config dict with ``preset`` applied to its model and dataloaders, except the dotted
    keys in ``keep`` (those the user set)."""
    cfg_dict = copy.deepcopy(cfg_dict)
    cfg_dict['model'] = shrink_model(cfg_dict['model'], preset, keep=keep)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg_dict.get(key)
        if not loader:
            continue
        if preset.batch_size and f'{key}.batch_size' not in keep:
            loader['batch_size'] = preset.batch_size
        if preset.num_workers is not None and f'{key}.num_workers' not in keep:
            loader['num_workers'] = preset.num_workers
        tokenizer = (loader.get('dataset') or {}).get('tokenizer')
        if preset.vocab_size and isinstance(tokenizer, dict) and f'{key}.dataset.tokenizer.vocab_size' not in keep:
            tokenizer['vocab_size'] = preset.vocab_size
    return cfg_dict
