"""SCALE: the multi-modal pretrainer with self-harmonized modality weights."""
from __future__ import annotations

from typing import Any, Dict, Optional

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
    :class:`MultiModalPretrainer` for the other arguments (``harmonizer=None`` also gives SCALE's).
    """

    def __init__(self, *, fusion: Optional[ConfigOrModule] = None, harmonizer: Optional[ConfigOrModule] = None,
                 **kwargs: Any) -> None:
        super().__init__(fusion=fusion or dict(type='ScaleFusion'),
                         harmonizer=harmonizer or dict(type='CosineGraphHarmonizer'), **kwargs)

    @classmethod
    def default_objectives(cls, backbone: MultiModalBackbone) -> Dict[str, Any]:
        """SCALE's objectives for the backbone's modalities."""
        return default_objectives(backbone.modalities, backbone.encoder_sharing)
