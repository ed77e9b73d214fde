"""Restricting a config to a subset of its modalities, generically.

The mechanism of the two-modality fusion configs (configs/fusion/*_2mod.py), applied to any
config and any subset: the encoders of the other modalities become None (the pretrainers drop
None entries), so do the losses of those modalities (a loss's ``modality``, explicit or its
class default), contrastive ``pairs`` are filtered, and every dataset of the config reads only
the kept modalities. With a single modality left, the cross-modal losses (every loss that is
not a masked-modelling loss: contrastive, matching) are dropped as well; a ``ScalePretrainer``
that derives its losses from its encoders (``losses=None``) gets them written out first.
"""
from __future__ import annotations

import copy
import inspect
from typing import Any, Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config

from m5mm.registry import LOSSES, MODELS
from m5mm.utils.build import find_registered
from m5mm.utils.config import iter_dataset_cfgs


def _loss_class(loss_cfg: dict):
    from m5mm.utils.build import UnknownModuleError, unknown_type_message
    cls = find_registered(LOSSES, loss_cfg['type']) if isinstance(loss_cfg.get('type'), str) else loss_cfg.get('type')
    if cls is None:
        raise UnknownModuleError(unknown_type_message(LOSSES, str(loss_cfg.get('type'))))
    return cls


def loss_modality(loss_cfg: dict) -> Optional[str]:
    """The modality a loss config is for (``modality`` or its class default), None if none."""
    if loss_cfg.get('modality') is not None:
        return loss_cfg['modality']
    params = inspect.signature(_loss_class(loss_cfg).__init__).parameters
    default = params['modality'].default if 'modality' in params else None
    return default if isinstance(default, str) else None


def is_masked_loss(loss_cfg: dict) -> bool:
    """Whether the loss config builds a masked-modelling loss (a single-modality objective)."""
    from m5mm.models.losses import BaseMaskedLoss
    return issubclass(_loss_class(loss_cfg), BaseMaskedLoss)


def _explicit_losses(model: dict, kept: Sequence[str]) -> Optional[dict]:
    """``model['losses']``, or the losses a ``ScalePretrainer`` derives when it is None."""
    if model.get('losses') is not None:
        return dict(model['losses'])
    from m5mm.models.pretrainers.scale_pretrainer import ScalePretrainer, default_scale_losses
    cls = find_registered(MODELS, model['type']) if isinstance(model.get('type'), str) else model.get('type')
    if isinstance(cls, type) and issubclass(cls, ScalePretrainer):
        return default_scale_losses(kept)
    return None


def _restrict_losses(losses: dict, kept: Sequence[str]) -> Tuple[dict, List[str]]:
    out, dropped = {}, []
    for name, loss_cfg in losses.items():
        if loss_cfg is None:
            out[name] = None
            continue
        loss_cfg = dict(loss_cfg)
        modality = loss_modality(loss_cfg)
        if loss_cfg.get('pairs') is not None:
            loss_cfg['pairs'] = [list(p) for p in loss_cfg['pairs'] if all(m in kept for m in p)]
        keep = (modality is None or modality in kept) and loss_cfg.get('pairs') != [] and \
            (len(kept) >= 2 or is_masked_loss(loss_cfg))
        out[name] = loss_cfg if keep else None
        if not keep:
            dropped.append(name)
    return out, dropped


def restrict_model(model: Dict[str, Any], modalities: Sequence[str]) -> Tuple[dict, List[str]]:
    """A copy of the ``model`` config keeping ``modalities``; returns it and the dropped loss names.

    Raises:
        KeyError: a kept modality has no encoder in the config.
        ValueError: no loss is left for the kept modalities.
    """
    model = copy.deepcopy(dict(model))
    encoders = dict(model.get('encoders') or {})
    configured = [m for m, enc in encoders.items() if enc is not None]
    missing = [m for m in modalities if m not in configured]
    if missing:
        raise KeyError(f'the model has no encoder for {missing}; its encoders: {configured}')
    model['encoders'] = {m: (enc if m in modalities else None) for m, enc in encoders.items()}
    kept = [m for m in configured if m in modalities]
    losses = _explicit_losses(model, kept)
    dropped: List[str] = []
    if losses is not None and (len(kept) < 2 or model.get('losses') is not None):
        model['losses'], dropped = _restrict_losses(losses, kept)
        if not any(v is not None for v in model['losses'].values()):
            raise ValueError(f'no loss of the model applies to the modalities {list(modalities)} '
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
        The new config and the names of the losses that were dropped.
    """
    if not modalities:
        raise ValueError('restrict_modalities needs at least one modality')
    cfg_dict = cfg.to_dict() if hasattr(cfg, 'to_dict') else copy.deepcopy(dict(cfg))
    if cfg_dict.get('model') is None:
        raise KeyError('the config has no `model` to restrict')
    cfg_dict['model'], dropped = restrict_model(cfg_dict['model'], modalities)
    restrict_datasets(cfg_dict, modalities)
    return Config(cfg_dict), dropped
