"""Video tower on a pretrained model: a native video model (VideoMAE ...) or an image model per frame."""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
from einops import rearrange, repeat
from torch import Tensor, nn

from m5mm.models.pretrained.loading import modality_model_types
from m5mm.models.pretrained.vision import image_size, is_timm, load_vision_backbone, prefix_tokens, vision_tokens
from m5mm.registry import ENCODERS

from .encoder_utils import EncoderInputError, fetch, fetch_mask
from .pretrained_tower_encoder import Inputs, PretrainedTowerEncoder

FRAME_POOLS = ('auto', 'cls', 'mean')
DEFAULT_MAX_FRAMES = 64


def is_video_model(backbone: nn.Module) -> bool:
    """Whether ``backbone`` is a native video model (else an image model applied per frame)."""
    return not is_timm(backbone) and backbone.config.model_type in modality_model_types()['video']


@ENCODERS.register_module()
class PretrainedVideoEncoder(PretrainedTowerEncoder):
    """Pretrained video tokens -> trainable :class:`FeatureEncoder` part (the temporal layers).

    Reads ``frames`` (B, T, 3, H, W) and ``frame_mask`` (B, T) (preprocessed for the model:
    ``dict(type='ProcessVideoFrames', pretrained=...)``) or cached ``feats`` + ``feat_mask``,
    and ``present`` (B,). With a native video model (VideoMAE, TimeSformer, ViViT; T must be
    its ``num_frames``, shorter clips are zero-padded) the tokens are its tubelet tokens, a
    tubelet being real when any of its frames is. With an image model (any the image tower
    takes) each real frame becomes one token: its class token (``frame_pool='cls'``) or the
    mean of its tokens (``'mean'``; ``'auto'``: the class token when the model has one), and
    the transformer of the trainable part is the temporal model over frames.

    Args:
        frame_pool: see above (image models only).
        (others: see :class:`PretrainedTowerEncoder`; ``max_tokens`` defaults to 64 frames for
        an image model)
    """

    modality = 'video'
    raw_key = 'frames'

    #: the data facts the builder passes (see m5mm.models.builders.needed_facts)
    needs = ()

    def __init__(self, *, pretrained: str, frame_pool: str = 'auto', freeze: bool = False,
                 trainable_layers: Optional[int] = None, lora: Optional[dict] = None, token_pool: int = 1,
                 max_tokens: Optional[int] = None, dim: int = 768, depth: int = 1, num_heads: int = 12,
                 mlp_ratio: float = 4.0, dropout: float = 0.0, pooled_proj: str = 'identity',
                 pooled_dim: Optional[int] = None, pooled_source: str = 'tokens') -> None:
        if frame_pool not in FRAME_POOLS:
            raise ValueError(f'frame_pool must be one of {FRAME_POOLS}, got {frame_pool!r}')
        self.frame_pool = frame_pool
        super().__init__(pretrained=pretrained, freeze=freeze, trainable_layers=trainable_layers, lora=lora,
                         token_pool=token_pool, max_tokens=max_tokens, dim=dim, depth=depth, num_heads=num_heads,
                         mlp_ratio=mlp_ratio, dropout=dropout, pooled_proj=pooled_proj, pooled_dim=pooled_dim,
                         pooled_source=pooled_source)

    def load_backbone(self, pretrained: str) -> nn.Module:
        return load_vision_backbone(pretrained, modality='video', accept=('image',))

    def default_max_tokens(self, backbone: nn.Module, probe: Tensor) -> int:
        return int(probe.shape[1]) if is_video_model(backbone) else DEFAULT_MAX_FRAMES

    def dummy_inputs(self, backbone: nn.Module) -> Dict[str, Tensor]:
        frames = int(backbone.config.num_frames) if is_video_model(backbone) else 2
        return {'frames': torch.zeros(1, frames, 3, *image_size(backbone)),
                'frame_mask': torch.ones(1, frames, dtype=torch.bool), 'present': torch.ones(1, dtype=torch.bool)}

    def backbone_tokens(self, backbone: nn.Module, inputs: Inputs) -> Tuple[Tensor, Tensor]:
        name = type(self).__name__
        frames = fetch(inputs, 'frames', '(B, T, 3, H, W)', name).to(next(backbone.parameters()).dtype)
        valid = fetch_mask(inputs, 'frame_mask', frames, name)
        frames = torch.where(valid[:, :, None, None, None], frames, 0.0)
        if is_video_model(backbone):
            return self._clip_tokens(backbone, frames, valid)
        return self._frame_tokens(backbone, frames, valid)

    def _clip_tokens(self, backbone: nn.Module, frames: Tensor, valid: Tensor) -> Tuple[Tensor, Tensor]:
        config = backbone.config
        num, tubelet = int(config.num_frames), int(getattr(config, 'tubelet_size', 1))
        if frames.shape[1] > num:
            raise EncoderInputError(f'{type(self).__name__}: {frames.shape[1]} frames, but {config.model_type} takes '
                                    f'{num}; sample num_frames={num} in the pipeline')
        pad = num - frames.shape[1]
        frames = torch.cat([frames, frames.new_zeros(frames.shape[0], pad, *frames.shape[2:])], dim=1)
        valid = torch.cat([valid, valid.new_zeros(valid.shape[0], pad)], dim=1)
        tokens = backbone(pixel_values=frames).last_hidden_state
        tubes = rearrange(valid, 'b (t k) -> b t k', k=tubelet).any(-1)
        per_tube = tokens.shape[1] // tubes.shape[1]
        return tokens, repeat(tubes, 'b t -> b (t n)', n=per_tube)

    def _frame_tokens(self, backbone: nn.Module, frames: Tensor, valid: Tensor) -> Tuple[Tensor, Tensor]:
        flat_valid = valid.flatten()
        keep = flat_valid.nonzero().flatten()
        if keep.numel() == 0:  # a trainable backbone still runs (every parameter used every step)
            keep = torch.zeros(1, dtype=torch.long, device=valid.device)
        tokens = vision_tokens(backbone, rearrange(frames, 'b t c h w -> (b t) c h w')[keep])
        pooled = tokens[:, 0] if self._use_class_token(backbone) else tokens.mean(dim=1)
        out = pooled.new_zeros(flat_valid.shape[0], pooled.shape[-1]).index_copy(0, keep, pooled)
        return rearrange(out, '(b t) d -> b t d', b=frames.shape[0]), valid

    def _use_class_token(self, backbone: nn.Module) -> bool:
        if self.frame_pool == 'auto':
            return prefix_tokens(backbone) > 0
        if self.frame_pool == 'cls' and prefix_tokens(backbone) == 0:
            raise ValueError("frame_pool='cls', but the image model has no class token; use 'mean'")
        return self.frame_pool == 'cls'

    @property
    def native(self) -> bool:
        """Whether the backbone is a video model (else an image model per frame)."""
        return is_video_model(self.backbone)

    def extra_repr(self) -> str:
        return f'pretrained={self.pretrained!r}, native={self.native}, frame_pool={self.frame_pool!r}'
