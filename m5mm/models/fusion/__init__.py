"""Fusion strategies: {m: EncoderOutput} -> FusionOutput."""
from .scale_fusion import ScaleFusion

__all__ = ['ScaleFusion']
