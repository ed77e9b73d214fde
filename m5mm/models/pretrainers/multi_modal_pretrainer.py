"""Pretraining: a multi-modal backbone and a list of objectives."""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from m5mm.models.backbones import MultiModalBackbone
from m5mm.models.multi_modal_model import MultiModalModel
from m5mm.models.objectives import build_objectives
from m5mm.registry import MODELS

ConfigOrModule = Any


@MODELS.register_module()
class MultiModalPretrainer(MultiModalModel):
    """A :class:`~m5mm.models.backbones.MultiModalBackbone` trained with named objectives.

    ``forward(batch)`` -> the objectives' named scalars (see :class:`MultiModalModel`);
    ``extract_features(batch)`` -> ``joint``, ``fused``, ``pooled``, ``present``.

    The objectives follow the modalities: an objective that needs a modality the model does not
    have (``modalities`` leaves it out, or its encoder is None) or more modalities than it has
    (contrastive and matching need two) is dropped, and :attr:`dropped_objectives` names it.

    Args:
        objectives: name -> objective config (``OBJECTIVES`` registry) or built objective; the
            name is the objective's output key suffix. None entries are removed.
        mask_ratio: masking ratio of the objectives that take one and do not set it.
        data_meta: the dataset's ``meta`` (tokenizer ids, classes), passed to the backbone and
            the objectives.
        backbone: the :class:`~m5mm.models.backbones.MultiModalBackbone`'s arguments (``encoders``,
            ``fusion``, ``harmonizer``, ``projection``, ``modalities``, ``neck``, ...), its defaults
            stated there only.
    """

    def __init__(self, *, objectives: Optional[Mapping[str, ConfigOrModule]] = None, mask_ratio: float = 0.15,
                 data_meta: Optional[dict] = None, **backbone: Any) -> None:
        net = MultiModalBackbone(data_meta=data_meta, **backbone)
        cfgs = self.default_objectives(net) if objectives is None else objectives
        built, dropped = build_objectives(cfgs, backbone=net, data_meta=data_meta, mask_ratio=mask_ratio)
        super().__init__(backbone=net, objectives=built)
        self.dropped_objectives: List[str] = dropped

    @classmethod
    def default_objectives(cls, backbone: MultiModalBackbone) -> Dict[str, Any]:
        """The objectives used when the config gives none (a MultiModalPretrainer needs them)."""
        raise ValueError(f'{cls.__name__} needs `objectives` (name -> objective config); ScalePretrainer '
                         f'derives SCALE\'s from the modalities')
