"""A pretrained model's preprocessing, read from its own processor files (loaded once per process).

Image models: ``AutoImageProcessor`` (``preprocessor_config.json``) or, for timm, the
``pretrained_cfg`` in ``config.json``; audio models: ``AutoFeatureExtractor``. The data
pipelines (``ProcessImage``, ``ProcessVideoFrames``, ``ProcessAudio``) and the towers read
them here, so a config names a model once.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from m5mm.utils.pretrained_source import resolve_pretrained

_CACHE: Dict[Tuple[str, str], object] = {}


@dataclass(frozen=True)
class ImageSpec:
    """How a model wants its images: ``size`` (H, W) after resizing/cropping, ``mean``, ``std`` (0-1 scale)."""

    size: Tuple[int, int]
    mean: Tuple[float, float, float]
    std: Tuple[float, float, float]


def _cached(kind: str, source: str, load):
    key = (kind, source)
    if key not in _CACHE:
        _CACHE[key] = load(resolve_pretrained(source, what=f'{kind} of a pretrained model'))
    return _CACHE[key]


def _hf_processor_file(folder: str, source: str) -> None:
    if not os.path.isfile(os.path.join(folder, 'preprocessor_config.json')):
        raise FileNotFoundError(f'{source!r} has no preprocessor_config.json, so its preprocessing is unknown; '
                                f'save the model\'s processor with it (processor.save_pretrained(folder))')


def timm_data_config(source: str) -> Optional[dict]:
    """timm's resolved data config of a timm model folder (None for other models)."""
    def load(folder):
        path = os.path.join(folder, 'config.json')
        if not os.path.isfile(path):
            return None
        with open(path, encoding='utf-8') as handle:
            config = json.load(handle)
        if 'architecture' not in config:
            return None
        from timm.data import resolve_data_config
        return resolve_data_config(pretrained_cfg=config.get('pretrained_cfg') or {})
    return _cached('timm data config', source, load)


def load_image_processor(source: str):
    """The model's ``AutoImageProcessor`` (transformers image and video models)."""
    def load(folder):
        from transformers import AutoImageProcessor
        _hf_processor_file(folder, source)
        return AutoImageProcessor.from_pretrained(folder, local_files_only=True)
    return _cached('image processor', source, load)


def load_feature_extractor(source: str):
    """The model's ``AutoFeatureExtractor`` (audio models)."""
    def load(folder):
        from transformers import AutoFeatureExtractor
        _hf_processor_file(folder, source)
        return AutoFeatureExtractor.from_pretrained(folder, local_files_only=True)
    return _cached('feature extractor', source, load)


def image_spec(source: str) -> ImageSpec:
    """Output size and normalisation of the model's image preprocessing."""
    timm_cfg = timm_data_config(source)
    if timm_cfg is not None:
        _, height, width = timm_cfg['input_size']
        return ImageSpec((int(height), int(width)), tuple(timm_cfg['mean']), tuple(timm_cfg['std']))
    processor = load_image_processor(source)
    size = processor.crop_size if getattr(processor, 'do_center_crop', False) else processor.size
    size = dict(size.items()) if hasattr(size, 'items') else dict(vars(size))
    side = size.get('shortest_edge')
    height, width = (side, side) if side else (size['height'], size['width'])
    return ImageSpec((int(height), int(width)), tuple(processor.image_mean), tuple(processor.image_std))
