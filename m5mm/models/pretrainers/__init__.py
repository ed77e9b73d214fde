"""Pretraining models: a multi-modal backbone composed with objectives."""
from .multi_modal_pretrainer import MultiModalPretrainer
from .scale_pretrainer import ScalePretrainer

__all__ = ['MultiModalPretrainer', 'ScalePretrainer']
