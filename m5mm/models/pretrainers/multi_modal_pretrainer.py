"""Pretraining: a multi-modal backbone and a list of objectives."""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

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
        encoders, fusion, harmonizer, projection, share_text_table, modality_dropout, joint,
            normalize_joint: the backbone's (see
            :class:`~m5mm.models.backbones.MultiModalBackbone`).
        objectives: name -> objective config (``OBJECTIVES`` registry) or built objective; the
            name is the objective's output key suffix. None entries are removed.
        modalities: train on these of the configured encoders only.
        mask_ratio: masking ratio of the objectives that take one and do not set it.
        data_meta: the dataset's ``meta`` (tokenizer ids, classes), passed to the backbone and
            the objectives.
    """

    def __init__(self, *, encoders: Mapping[str, ConfigOrModule], fusion: ConfigOrModule,
                 objectives: Optional[Mapping[str, ConfigOrModule]] = None,
                 harmonizer: Optional[ConfigOrModule] = None, projection: Optional[dict] = None,
                 modalities: Optional[Sequence[str]] = None, mask_ratio: float = 0.15,
                 share_text_table: bool = True, data_meta: Optional[dict] = None,
                 modality_dropout: float = 0.0, joint: str = 'fusion', normalize_joint: bool = False) -> None:
        backbone = MultiModalBackbone(encoders=encoders, fusion=fusion, harmonizer=harmonizer,
                                      projection=projection, modalities=modalities,
                                      share_text_table=share_text_table, data_meta=data_meta,
                                      modality_dropout=modality_dropout, joint=joint,
                                      normalize_joint=normalize_joint)
        cfgs = self.default_objectives(backbone) if objectives is None else objectives
        built, dropped = build_objectives(cfgs, backbone=backbone, data_meta=data_meta, mask_ratio=mask_ratio)
        super().__init__(backbone=backbone, objectives=built)
        self.dropped_objectives: List[str] = dropped

    @classmethod
    def default_objectives(cls, backbone: MultiModalBackbone) -> Dict[str, Any]:
        """The objectives used when the config gives none (a MultiModalPretrainer needs them)."""
        raise ValueError(f'{cls.__name__} needs `objectives` (name -> objective config); ScalePretrainer '
                         f'derives SCALE\'s from the modalities')
