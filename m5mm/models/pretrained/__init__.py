"""Pretrained backbones: loading by family and modality, tuning (freeze / last layers / LoRA), checkpoint state."""
from .loading import WrongModalityError, load_timm_backbone, load_transformers_backbone
from .tower_weights import PretrainedWeightsMixin, SourceInfo, source_info
from .tuning import add_lora, find_blocks, freeze, freeze_unused, merge_lora, train_last_layers

__all__ = ['PretrainedWeightsMixin', 'SourceInfo', 'WrongModalityError', 'add_lora', 'find_blocks', 'freeze',
           'freeze_unused', 'load_timm_backbone', 'load_transformers_backbone', 'merge_lora', 'source_info',
           'train_last_layers']
