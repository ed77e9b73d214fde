"""Fusion strategies: {m: EncoderOutput} -> FusionOutput."""
from .co_attention_fusion import CoAttentionFusion
from .hybrid_fusion import HybridFusion
from .late_fusion import LateFusion
from .scale_fusion import ScaleFusion
from .single_stream_fusion import SingleStreamFusion

__all__ = ['CoAttentionFusion', 'HybridFusion', 'LateFusion', 'ScaleFusion', 'SingleStreamFusion']
