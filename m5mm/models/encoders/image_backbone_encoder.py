"""Image encoder on a torchvision CNN: the final feature map's cells become tokens."""
from __future__ import annotations

import difflib
import logging
import os
from typing import Mapping, Optional

import torch
import torchvision
from einops import rearrange
from torch import Tensor, nn

from m5mm.registry import ENCODERS
from m5mm.structures import EncoderOutput

from .continuous_encoder import ContinuousEncoder
from .encoder_utils import EncoderInputError, fetch, fetch_present
from .image_patch_encoder import cell_targets

logger = logging.getLogger(__name__)


def build_trunk(name: str, checkpoint: Optional[str]) -> nn.Module:
    """A torchvision classification model without its pooling and classifier (random init,
    or the state dict at ``checkpoint``; the classifier's keys may be missing)."""
    names = torchvision.models.list_models(module=torchvision.models)
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3)
        raise ValueError(f'unknown torchvision classification backbone {name!r}'
                         + (f'; did you mean {", ".join(close)}?' if close else ''))
    model = torchvision.models.get_model(name, weights=None)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint)
    if hasattr(model, 'features'):  # vgg, mobilenet, efficientnet, convnext, densenet, ...
        return model.features
    if hasattr(model, 'fc') and hasattr(model, 'avgpool'):  # resnet, resnext, wide_resnet, regnet, ...
        return nn.Sequential(*[m for n, m in model.named_children() if n not in ('avgpool', 'fc')])
    raise ValueError(f'torchvision backbone {name!r} has neither `features` nor `avgpool`+`fc`; '
                     f'm5mm cannot tell where its final feature map is')


def load_checkpoint(model: nn.Module, path: str) -> None:
    """Load a local state dict (optionally nested under ``state_dict``/``model``) into ``model``."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'backbone checkpoint {path!r} does not exist (a local state-dict file is '
                                f'needed; nothing is downloaded)')
    state = torch.load(path, map_location='cpu', weights_only=True)
    for key in ('state_dict', 'model'):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise ValueError(f'backbone checkpoint {path!r} does not fit the model: {exc}') from exc
    classifier = ('fc.', 'classifier.', 'head.', 'heads.')
    missing = [k for k in result.missing_keys if not k.startswith(classifier)]
    if missing:
        raise ValueError(f'backbone checkpoint {path!r} does not fit the model: missing {missing[:5]} '
                         f'({len(missing)} keys)')
    if result.unexpected_keys:
        logger.warning('backbone checkpoint %s: ignored %d unexpected keys, e.g. %s', path,
                       len(result.unexpected_keys), result.unexpected_keys[:3])


@ENCODERS.register_module()
class ImageBackboneEncoder(ContinuousEncoder):
    """torchvision CNN -> feature-map cells -> Linear to D -> global token, positions, transformer.

    Reads ``pixels`` (B, 3, H, W) and ``present`` (B,); returns 1 + h*w tokens for an h x w
    final feature map (7 x 7 for resnet18 at 224 px). Masking replaces cell tokens after the
    CNN (the CNN itself sees the whole image, so neighbouring cells carry some context of a
    masked cell). The target of a cell is the image average-pooled to ``target_grid`` x
    ``target_grid`` values per channel inside that cell.

    Args:
        backbone: a torchvision classification model name (``resnet18``, ``resnet50``,
            ``convnext_tiny``, ``efficientnet_b0``, ...), built with ``weights=None``.
        checkpoint: local path to its state dict (classifier keys may be missing).
        norm_eval: keep the CNN's BatchNorm layers in eval mode (frozen statistics) in training.
        dim, depth, num_heads, mlp_ratio, dropout: the transformer on the cells (width D;
            ``depth=0`` leaves only its final LayerNorm).
        grid_size: side of the feature map the position table is made for (interpolated otherwise).
        target_grid: see above.
        pooled_proj, pooled_dim: projection of token 0 to ``pooled``.
    """

    #: the data facts the builder passes (see m5mm.models.builders.needed_facts)
    needs = ()

    def __init__(self, *, backbone: str = 'resnet18', checkpoint: Optional[str] = None,
                 norm_eval: bool = False, dim: int = 768, depth: int = 0, num_heads: int = 12,
                 mlp_ratio: float = 4.0, dropout: float = 0.0, grid_size: int = 7, target_grid: int = 2,
                 pooled_proj: str = 'identity', pooled_dim: Optional[int] = None) -> None:
        super().__init__(dim=dim, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio, dropout=dropout,
                         max_tokens=grid_size ** 2, pooled_proj=pooled_proj, pooled_dim=pooled_dim)
        self.grid_size = grid_size
        self.target_grid = target_grid
        self.norm_eval = norm_eval
        self.trunk = build_trunk(backbone, checkpoint)
        self.cell_proj = nn.Linear(self._trunk_channels(), dim)

    @property
    def target_dim(self) -> int:
        """F, the width of the masked-modelling targets (3 channels x target_grid^2)."""
        return 3 * self.target_grid ** 2

    def _trunk_channels(self) -> int:
        was_training = self.trunk.training
        self.trunk.eval()
        with torch.no_grad():
            channels = self.trunk(torch.zeros(1, 3, 64, 64)).shape[1]
        self.trunk.train(was_training)
        return channels

    def train(self, mode: bool = True) -> 'ImageBackboneEncoder':
        """As ``nn.Module.train``; BatchNorm layers stay in eval mode when ``norm_eval``."""
        super().train(mode)
        if self.norm_eval:
            for module in self.trunk.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def forward(self, inputs: Mapping[str, Tensor], mask_ratio: float = 0.0) -> EncoderOutput:
        """inputs: ``pixels`` (B, 3, H, W), ``present`` (B,) -> EncoderOutput with 1 + h*w tokens."""
        name = type(self).__name__
        pixels = fetch(inputs, 'pixels', '(B, 3, H, W)', name)
        if pixels.shape[1] != 3:
            raise EncoderInputError(f'{name}: pixels must be (B, 3, H, W), got {tuple(pixels.shape)}')
        present = fetch_present(inputs, pixels.shape[0], name)
        pixels = torch.where(present[:, None, None, None], pixels.to(self.dtype), 0.0)
        fmap = self.trunk(pixels)
        gh, gw = fmap.shape[-2:]
        x = self.cell_proj(rearrange(fmap, 'b c h w -> b (h w) c'))
        pos = self.grid_positions(self.grid_size, gh, gw)
        targets = cell_targets(pixels, gh, gw, self.target_grid)
        token_mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        return self.encode(x, token_mask, present, targets, mask_ratio, pos=pos)
