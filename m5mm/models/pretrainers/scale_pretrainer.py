"""SCALE: the multi-modal pretrainer with self-harmonized modality weights."""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence

from m5mm.models.backbones import MultiModalBackbone
from m5mm.models.objectives import default_objectives
from m5mm.registry import MODELS
from .multi_modal_pretrainer import ConfigOrModule, MultiModalPretrainer


@MODELS.register_module()
class ScalePretrainer(MultiModalPretrainer):
    """SCALE (Dong et al., CVPR 2022): the encoders, the single-stream ``ScaleFusion``, the
    cosine-graph harmonizer [code] weighting the all-pairs contrastive objective and the masked
    tasks. ``objectives=None`` gives SCALE's for the model's modalities
    (:func:`~m5mm.models.objectives.default_objectives`: ``con`` plus each modality's pretext
    objective as its spec declares it, e.g. ``mlm``, ``mem``, ``mfm_image``); ``fusion``
    defaults to ``ScaleFusion`` (width 768, 6 layers, 8 heads). See
    :class:`MultiModalPretrainer` for the arguments.
    """

    def __init__(self, *, encoders: Mapping[str, ConfigOrModule], fusion: ConfigOrModule = None,
                 objectives: Optional[Mapping[str, ConfigOrModule]] = None,
                 harmonizer: Optional[ConfigOrModule] = None, projection: Optional[dict] = None,
                 modalities: Optional[Sequence[str]] = None, mask_ratio: float = 0.15,
                 share_text_table: bool = True, data_meta: Optional[dict] = None,
                 modality_dropout: float = 0.0, joint: str = 'fusion', normalize_joint: bool = False) -> None:
        super().__init__(encoders=encoders, fusion=fusion or dict(type='ScaleFusion'), objectives=objectives,
                         harmonizer=harmonizer or dict(type='CosineGraphHarmonizer'), projection=projection,
                         modalities=modalities, mask_ratio=mask_ratio, share_text_table=share_text_table,
                         data_meta=data_meta, modality_dropout=modality_dropout, joint=joint,
                         normalize_joint=normalize_joint)

    @classmethod
    def default_objectives(cls, backbone: MultiModalBackbone) -> Dict[str, Any]:
        """SCALE's objectives for the backbone's modalities."""
        return default_objectives(backbone.modalities, backbone.encoder_sharing)
