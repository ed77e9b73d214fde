"""The benchmarked methods and the config each (method, modality set) cell starts from.

A method is a stem of ``configs/fusion/<stem>_5mod.py`` (its five-modality config) or the path
of any config file. A cell on a modality set starts from the five-modality config and is
restricted generically (:func:`m5mm.experiments.paper_tables.subset.restrict_modalities`); when the method has
a hand-balanced config for exactly that set (``<stem>_2mod.py`` for text + image, whose tower
depths keep the parameter budget of docs/fusion_methods.md), that config is used instead.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Sequence, Tuple, Union

from .modality_sets import ORDER

#: method name -> label used in the tables (the paper's model names).
METHOD_LABELS: Dict[str, str] = {
    'scale': 'SCALE',
    'scale_uniform': 'SCALE, uniform weights',
    'clip': 'CLIP (late fusion)',
    'single_stream': 'Single-stream (VisualBERT / VL-BERT)',
    'uniter': 'UNITER',
    'co_attention': 'Co-attention (ViLBERT / LXMERT)',
    'capture': 'CAPTURE (hybrid)',
}
DEFAULT_METHODS: Tuple[str, ...] = tuple(METHOD_LABELS)
#: modality sets that have a hand-written config variant: set -> file suffix.
VARIANTS: Dict[Tuple[str, ...], str] = {('text', 'image'): '2mod', ORDER: '5mod'}
DEFAULT_CONFIG_DIR = Path(__file__).resolve().parents[3] / 'configs' / 'fusion'  # the checkout's configs/fusion


def method_label(method: str) -> str:
    """The table label of ``method`` (a config path gives its file stem)."""
    return METHOD_LABELS.get(method, Path(method).stem if method.endswith('.py') else method)


def method_config(method: str, modalities: Sequence[str],
                  config_dir: Union[str, Path] = DEFAULT_CONFIG_DIR) -> Path:
    """The config file a cell of ``method`` on ``modalities`` starts from.

    Raises:
        FileNotFoundError: the method names no config (lists the methods found in ``config_dir``).
    """
    if method.endswith('.py'):
        path = Path(method)
        if not path.is_file():
            raise FileNotFoundError(f'method config not found: {method}')
        return path
    config_dir = Path(config_dir)
    ordered = tuple(m for m in ORDER if m in modalities)
    suffix = VARIANTS.get(ordered)
    if suffix is not None and (config_dir / f'{method}_{suffix}.py').is_file():
        return config_dir / f'{method}_{suffix}.py'
    base = config_dir / f'{method}_5mod.py'
    if not base.is_file():
        known = sorted(p.name[:-len('_5mod.py')] for p in config_dir.glob('*_5mod.py'))
        raise FileNotFoundError(f'unknown method {method!r}: no {base}. Methods with a config in {config_dir}: '
                                f'{", ".join(known)} (or pass a config file path ending in .py)')
    return base


def parse_methods(text: str) -> Tuple[str, ...]:
    """A comma-separated method list (``'scale,clip'``) -> names, duplicates removed."""
    methods = []
    for name in text.split(','):
        name = name.strip()
        if name and name not in methods:
            methods.append(name)
    if not methods:
        raise ValueError(f'no method in {text!r}; known: {", ".join(DEFAULT_METHODS)}')
    return tuple(methods)
