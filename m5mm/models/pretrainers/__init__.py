"""Composite models: encoders + fusion + harmonizer + heads + losses."""
from .multi_modal_pretrainer import MultiModalPretrainer
from .scale_pretrainer import ScalePretrainer, default_scale_losses

__all__ = ['MultiModalPretrainer', 'ScalePretrainer', 'default_scale_losses']
