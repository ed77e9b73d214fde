"""Image tower on a pretrained vision model (``transformers`` or timm)."""
from __future__ import annotations

from typing import Dict, Tuple

import torch
from torch import Tensor, nn

from m5mm.models.pretrained.vision import image_size, load_vision_backbone, vision_tokens
from m5mm.registry import ENCODERS

from .encoder_utils import EncoderInputError, fetch
from .pretrained_tower_encoder import Inputs, PretrainedTowerEncoder


@ENCODERS.register_module()
class PretrainedImageEncoder(PretrainedTowerEncoder):
    """A pretrained image model's last tokens -> trainable :class:`FeatureEncoder` part.

    Reads ``pixels`` (B, 3, H, W) (preprocessed for the model: ``dict(type='ProcessImage',
    pretrained=...)`` in the pipeline) or cached ``feats`` (B, N, C) + ``feat_mask``, and
    ``present`` (B,). The backbone is any vision model ``transformers`` loads (ViT, DINOv2,
    ConvNeXt, the vision tower of CLIP / SigLIP, ...; a CNN's feature map gives h*w tokens) or a
    timm model (``pretrained='timm/<name>'`` or a folder with timm's ``config.json``).
    Returns 1 + N tokens. Arguments: see :class:`PretrainedTowerEncoder`.
    """

    modality = 'image'
    raw_key = 'pixels'

    def load_backbone(self, pretrained: str) -> nn.Module:
        return load_vision_backbone(pretrained)

    def backbone_tokens(self, backbone: nn.Module, inputs: Inputs) -> Tuple[Tensor, Tensor]:
        pixels = fetch(inputs, 'pixels', '(B, 3, H, W)', type(self).__name__)
        if pixels.shape[1] != 3:
            raise EncoderInputError(f'{type(self).__name__}: pixels must be (B, 3, H, W), got {tuple(pixels.shape)}')
        tokens = vision_tokens(backbone, pixels.to(next(backbone.parameters()).dtype))
        return tokens, torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)

    def dummy_inputs(self, backbone: nn.Module) -> Dict[str, Tensor]:
        return {'pixels': torch.zeros(1, 3, *image_size(backbone)), 'present': torch.ones(1, dtype=torch.bool)}
