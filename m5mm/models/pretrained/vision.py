"""Image backbones of two families behind one call: ``transformers`` vision models and timm models."""
from __future__ import annotations

from typing import Tuple

from einops import rearrange
from torch import Tensor, nn

from m5mm.utils.pretrained_source import resolve_pretrained

from .loading import is_timm_folder, load_timm_backbone, load_transformers_backbone

DEFAULT_IMAGE_SIZE = 224


def load_vision_backbone(source: str, *, modality: str = 'image', accept: tuple = ()) -> nn.Module:
    """A timm model (its folder's ``config.json`` names an ``architecture``) or a ``transformers``
    vision model (a composite such as CLIP gives its vision tower), without pooler or head."""
    folder = resolve_pretrained(source, what=f'{modality} tower')
    if is_timm_folder(folder):
        return load_timm_backbone(source)
    return load_transformers_backbone(source, modality=modality, accept=accept, add_pooling_layer=False)


def is_timm(backbone: nn.Module) -> bool:
    """Whether ``backbone`` is a timm model."""
    return hasattr(backbone, 'forward_features') and hasattr(backbone, 'pretrained_cfg')


def vision_tokens(backbone: nn.Module, pixels: Tensor) -> Tensor:
    """pixels (B, 3, H, W) -> the backbone's last tokens (B, N, C); a feature map becomes its h*w cells."""
    if is_timm(backbone):
        out = backbone.forward_features(pixels)
    else:
        out = backbone(pixel_values=pixels).last_hidden_state
    return rearrange(out, 'b c h w -> b (h w) c') if out.dim() == 4 else out


def image_size(backbone: nn.Module) -> Tuple[int, int]:
    """(H, W) the backbone was trained at (its config; 224 when it states none)."""
    if is_timm(backbone):
        _, height, width = backbone.pretrained_cfg.get('input_size', (3, DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE))
        return int(height), int(width)
    size = getattr(backbone.config, 'image_size', DEFAULT_IMAGE_SIZE)
    return (int(size[0]), int(size[1])) if isinstance(size, (list, tuple)) else (int(size), int(size))


def prefix_tokens(backbone: nn.Module) -> int:
    """Tokens before the patch tokens (class token, registers); 0 for CNNs and SigLIP."""
    if is_timm(backbone):
        return int(getattr(backbone, 'num_prefix_tokens', 0))
    config = backbone.config
    if config.model_type in ('siglip_vision_model', 'siglip2_vision_model') or hasattr(config, 'hidden_sizes'):
        return 0
    return 1 + int(getattr(config, 'num_register_tokens', 0) or 0)
