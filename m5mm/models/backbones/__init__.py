"""The multi-modal backbone (encoders, fusion, projections, harmonizer) and its per-step forward context."""
from .forward_context import WEIGHT_SOURCES, ForwardContext
from .multi_modal_backbone import MultiModalBackbone
from .parts import build_encoders, resolve_modalities

__all__ = ['ForwardContext', 'MultiModalBackbone', 'WEIGHT_SOURCES', 'build_encoders', 'resolve_modalities']
