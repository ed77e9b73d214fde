"""Fine-tuned downstream models: a pretrained backbone with a task head."""
from .matching_weights import WeightsLoadReport, load_matching_weights
from .multi_modal_classifier import MultiModalClassifier

__all__ = ['MultiModalClassifier', 'WeightsLoadReport', 'load_matching_weights']
