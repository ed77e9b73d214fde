"""The rule "objectives follow the modalities": which objectives a model with given modalities keeps."""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence, Tuple

from torch import nn

from m5mm.models.builders import config_class
from m5mm.registry import OBJECTIVES
from m5mm.utils.build import UnknownModuleError, unknown_type_message
from .base_objective import BaseObjective


def objective_needs(cfg: Any) -> Tuple[Tuple[str, ...], int]:
    """(modalities it needs, least number of modalities) of an objective config or built objective."""
    if isinstance(cfg, nn.Module):
        return tuple(getattr(cfg, 'modalities', ())), int(getattr(cfg, 'min_modalities', 1))
    cls = config_class(cfg, OBJECTIVES)
    if cls is None:
        raise UnknownModuleError(unknown_type_message(OBJECTIVES, str(dict(cfg).get('type'))))
    if not issubclass(cls, BaseObjective):
        raise TypeError(f'{cls.__name__} is not a BaseObjective: an objective declares the modalities it needs '
                        f'(required_modalities, min_modalities) and is called as objective(ctx)')
    return tuple(cls.required_modalities(cfg)), cls.min_modalities


def select_objectives(cfgs: Mapping[str, Any], modalities: Sequence[str]) -> Tuple[Dict[str, Any], List[str]]:
    """Keep the objectives whose modalities are all in ``modalities`` and that need no more modalities
    than there are; None entries (removed in a config) are skipped.

    Returns:
        The kept {name: config or objective} in their order, and the names of the dropped ones.
    """
    kept, dropped = {}, []
    for name, cfg in cfgs.items():
        if cfg is None:
            continue
        needed, least = objective_needs(cfg)
        if all(m in modalities for m in needed) and len(modalities) >= least:
            kept[name] = cfg
        else:
            dropped.append(name)
    return kept, dropped
