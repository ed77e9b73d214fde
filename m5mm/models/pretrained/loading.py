"""Loading a pretrained backbone for a modality, with a clear error for the wrong kind of model.

``transformers`` models load through their Auto classes (a composite model such as CLIP or
SigLIP gives its vision tower, an encoder-decoder such as Whisper its encoder); a folder with
timm's ``config.json`` (``architecture``) loads through ``timm.create_model('local-dir:...')``.
Nothing executes code from the folder (no ``trust_remote_code``).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
from typing import Dict, FrozenSet, Optional

from torch import nn

from m5mm.utils.pretrained_source import resolve_pretrained
from m5mm.utils.require import require

logger = logging.getLogger(__name__)

MODALITY_EXAMPLES = {'image': 'vit, clip, siglip, dinov2, convnext or a timm model',
                     'video': 'videomae, timesformer, vivit (or an image model, applied per frame)',
                     'audio': 'wav2vec2, hubert, audio-spectrogram-transformer, whisper',
                     'text': 'bert, roberta, xlm-roberta'}


class WrongModalityError(ValueError):
    """A pretrained model of another modality than the tower's."""


def _names(*mappings: str) -> FrozenSet[str]:
    from transformers.models.auto import modeling_auto
    return frozenset(name for mapping in mappings for name in getattr(modeling_auto, mapping, {}))


def modality_model_types() -> Dict[str, FrozenSet[str]]:
    """modality -> the ``transformers`` model types that serve it."""
    image = _names('MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES', 'MODEL_FOR_IMAGE_MAPPING_NAMES')
    video = _names('MODEL_FOR_VIDEO_CLASSIFICATION_MAPPING_NAMES')
    return {'image': image - video, 'video': video,
            'audio': _names('MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES', 'MODEL_FOR_CTC_MAPPING_NAMES'),
            'text': _names('MODEL_FOR_MASKED_LM_MAPPING_NAMES')}


def model_modality(config) -> Optional[str]:
    """The modality a ``transformers`` config is for (a composite with a vision tower: image)."""
    types = modality_model_types()
    for modality in ('video', 'image', 'audio', 'text'):
        if config.model_type in types[modality]:
            return modality
    vision = getattr(config, 'vision_config', None)
    return 'image' if vision is not None and vision.model_type in types['image'] else None


def check_modality(found: Optional[str], model_type: str, modality: str, source: str, *,
                   accept: tuple = ()) -> None:
    """Raise :class:`WrongModalityError` unless a ``found`` model serves ``modality`` (or one of ``accept``)."""
    if found == modality or found in accept:
        return
    kind = f'for {found}' if found else 'for no modality m5mm knows'
    article = 'an' if modality[0] in 'aeiou' else 'a'
    raise WrongModalityError(f'{source!r} is a {model_type!r} model ({kind}); the {modality} tower needs {article} '
                             f'{modality} model ({MODALITY_EXAMPLES[modality]})')


def is_timm_folder(folder: str) -> bool:
    """Whether ``folder`` holds a timm model (its ``config.json`` names an ``architecture``)."""
    path = os.path.join(folder, 'config.json')
    if not os.path.isfile(path):
        return False
    with open(path, encoding='utf-8') as handle:
        return 'architecture' in json.load(handle)


@contextlib.contextmanager
def _quiet_transformers():
    from transformers.utils import logging as hf_logging
    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def load_config(folder: str, source: str):
    """``AutoConfig`` of ``folder``, with a clear error when it holds no transformers model."""
    from transformers import AutoConfig
    if not os.path.isfile(os.path.join(folder, 'config.json')):
        raise FileNotFoundError(f'{source!r} ({folder}) has no config.json: not a saved model folder')
    with _quiet_transformers():
        try:
            return AutoConfig.from_pretrained(folder, local_files_only=True)
        except (ValueError, KeyError) as exc:
            raise ValueError(f'{source!r}: transformers cannot read its config.json ({exc})') from None


def _no_layerdrop(config) -> None:
    """Set every LayerDrop probability to 0: a skipped layer would leave trainable parameters unused
    in a step (DDP and DeepSpeed need every trainable parameter used every step)."""
    for cfg in (config, getattr(config, 'vision_config', None)):
        for key in list(getattr(cfg, '__dict__', {})):
            if 'layerdrop' in key and getattr(cfg, key):
                setattr(cfg, key, 0.0)


def load_transformers_backbone(source: str, *, modality: str, accept: tuple = (), **kwargs) -> nn.Module:
    """The ``transformers`` model of ``source`` for ``modality`` (vision tower / encoder extracted).

    Args:
        source: folder or hub id (see :func:`~m5mm.utils.pretrained_source.resolve_pretrained`).
        modality: ``'image'``, ``'video'``, ``'audio'`` or ``'text'``; another kind of model fails.
        accept: other modalities whose models are accepted too (a video tower takes image models).
        kwargs: passed to ``from_pretrained`` (e.g. ``add_pooling_layer=False``).

    Raises:
        WrongModalityError: the model is for another modality.
        ValueError: the folder's weights do not cover the model (missing keys).
    """
    from transformers import AutoModel
    from transformers.models.auto.modeling_auto import MODEL_MAPPING
    folder = resolve_pretrained(source, what=f'{modality} tower')
    config = load_config(folder, source)
    check_modality(model_modality(config), config.model_type, modality, source, accept=accept)
    _no_layerdrop(config)
    cls, model_config = AutoModel, config
    vision = getattr(config, 'vision_config', None)
    if vision is not None and modality in ('image', 'video'):  # CLIP, SigLIP, ...: the vision tower
        cls, model_config = MODEL_MAPPING[type(vision)], vision
    with _quiet_transformers():
        try:
            model, info = cls.from_pretrained(folder, config=model_config, local_files_only=True,
                                              output_loading_info=True, **kwargs)
        except TypeError:  # the class takes no such option (e.g. no pooler to leave out)
            model, info = cls.from_pretrained(folder, config=model_config, local_files_only=True,
                                              output_loading_info=True)
    missing = sorted(info.get('missing_keys') or ())
    if missing:
        raise ValueError(f'{source!r}: its weights lack {len(missing)} parameters of {type(model).__name__} '
                         f'(e.g. {missing[:3]}); is the folder a complete {config.model_type} model?')
    if getattr(model.config, 'is_encoder_decoder', False):
        model = model.get_encoder()
    return model


def load_timm_backbone(source: str) -> nn.Module:
    """A timm model saved with its ``config.json`` (hub ``timm/...`` ids or a folder), without its head."""
    timm = require('timm', 'pretrained')
    folder = resolve_pretrained(source, what='image tower')
    if not is_timm_folder(folder):
        raise ValueError(f'{source!r} is not a timm model folder (its config.json names no "architecture")')
    try:
        return timm.create_model(f'local-dir:{folder}', pretrained=True, num_classes=0)
    except RuntimeError as exc:
        raise ValueError(f'{source!r}: timm cannot load it ({str(exc)[:300]})') from None
