"""Preprocess an image the way a pretrained model wants it (its own processor config)."""
from __future__ import annotations

import torch

from m5mm.models.pretrained.processors import image_spec, load_image_processor, timm_data_config
from m5mm.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ProcessImage:
    """``results['pixels']`` (3, H, W) uint8 -> float32 (3, h, w), as the model's processor makes it.

    A ``transformers`` model's ``AutoImageProcessor`` (resize, crop, rescale, normalise from its
    ``preprocessor_config.json``) or a timm model's eval transform (from its ``pretrained_cfg``)
    runs on the decoded image, so size, mean and std are the model's. Use after ``LoadImage``.

    Args:
        pretrained: the model's folder or hub id (the same as the image tower's).
    """

    def __init__(self, *, pretrained: str) -> None:
        self.pretrained = pretrained
        self.spec = image_spec(pretrained)  # fails early (and clearly) for a model without processor files
        self._transform = None

    def _timm_transform(self):
        if self._transform is None:
            from timm.data import create_transform
            self._transform = create_transform(**timm_data_config(self.pretrained))
        return self._transform

    def __call__(self, results: dict) -> dict:
        pixels = results['pixels']
        if timm_data_config(self.pretrained) is not None:
            from torchvision.transforms.v2.functional import to_pil_image
            results['pixels'] = self._timm_transform()(to_pil_image(pixels)).float()
        else:
            out = load_image_processor(self.pretrained)(images=pixels, return_tensors='pt')['pixel_values']
            results['pixels'] = torch.as_tensor(out[0]).float()
        return results

    def __repr__(self) -> str:
        return f'ProcessImage(pretrained={self.pretrained!r}, size={self.spec.size})'
