"""Building a model's objectives on its backbone, following its modalities."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple

from torch import nn

from m5mm.models.builders import accepts, build, config_class
from m5mm.registry import OBJECTIVES
from .build_facts import ObjectiveBuildFacts, fact_kwargs
from .selection import select_objectives

if TYPE_CHECKING:
    from m5mm.models.backbones import MultiModalBackbone

logger = logging.getLogger('m5mm')


def build_objectives(cfgs: Mapping[str, Any], *, backbone: 'MultiModalBackbone', data_meta: Optional[dict] = None,
                     mask_ratio: Optional[float] = None) -> Tuple[Dict[str, nn.Module], List[str]]:
    """The objectives of ``cfgs`` (name -> config or built objective) that ``backbone``'s modalities allow.

    Each config is built with ``name`` (its key) and the :class:`ObjectiveBuildFacts` (``backbone``,
    ``data_meta``, ``mask_ratio``) its class declares in ``needs`` and the config does not set;
    ``share_head='<other>'`` passes the head of an objective built before it as ``head``.

    Returns:
        The built objectives in config order and the names of those dropped for missing modalities.

    Raises:
        ValueError: no objective is left, or two objectives mask the same modality.
        KeyError: ``share_head`` names no earlier objective.
        TypeError: an objective declares a fact it does not take (see
            :func:`~m5mm.models.objectives.build_facts.declared_needs`).
    """
    kept, dropped = select_objectives(cfgs, backbone.modalities)
    if dropped:
        logger.info('objectives %s dropped: they need modalities the model does not have (%s)', dropped,
                    backbone.modalities)
    if not kept:
        raise ValueError(f'no objective applies to the modalities {backbone.modalities} (dropped: {dropped}); '
                         f'configure objectives for them')
    built: Dict[str, nn.Module] = {}
    facts = ObjectiveBuildFacts(backbone=backbone, data_meta=data_meta, mask_ratio=mask_ratio)
    for name in kept:
        _build_with_shared(name, kept, built, (), facts)
    built = {name: built[name] for name in kept}   # config order, whatever order share_head built them in
    _check_masking(built)
    return built, dropped


def _build_with_shared(name: str, kept: Mapping[str, Any], built: Dict[str, nn.Module], chain: Tuple[str, ...],
                       facts: ObjectiveBuildFacts) -> None:
    """Build objective ``name`` into ``built``, first the objective its ``share_head`` names (a saved config
    lists its objectives sorted by name, so the one that owns the head may come after the one sharing it)."""
    if name in built:
        return
    cfg = kept[name]
    if isinstance(cfg, nn.Module):
        built[name] = cfg
        return
    share = dict(cfg).get('share_head')
    if share is not None and share in kept and share not in built:
        if share in chain + (name,):
            raise ValueError(f'objectives share heads in a cycle: {" -> ".join(chain + (name, share))}')
        _build_with_shared(share, kept, built, chain + (name,), facts)
    built[name] = _build_one(name, dict(cfg), built, facts)


def _build_one(name: str, cfg: dict, built: Mapping[str, nn.Module], facts: ObjectiveBuildFacts) -> nn.Module:
    defaults = dict(name=name, **fact_kwargs(config_class(cfg, OBJECTIVES), facts, cfg))
    share = cfg.pop('share_head', None)
    if share is not None:
        if share not in built:
            raise KeyError(f'objectives[{name!r}].share_head={share!r}: no objective {share!r} is built before it '
                           f'(built: {list(built)})')
        if 'head' in cfg or not accepts(config_class(cfg, OBJECTIVES), 'head'):
            raise ValueError(f'objectives[{name!r}]: share_head needs an objective that takes `head` and no '
                             f'`head` of its own')
        defaults['head'] = built[share].head
    return build(cfg, OBJECTIVES, f'objectives[{name!r}]', defaults)


def _check_masking(objectives: Mapping[str, nn.Module]) -> None:
    masking: Dict[str, str] = {}
    for name, objective in objectives.items():
        modality = getattr(objective, 'masked_modality', None)
        if modality is None:
            continue
        if modality in masking:
            raise ValueError(f'objectives {masking[modality]!r} and {name!r} both mask {modality!r}; keep one '
                             f'masked task per modality')
        masking[modality] = name
