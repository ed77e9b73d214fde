"""Masked feature regression (MRM / MFM / MAM): MSE of masked tokens' input features."""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Optional, Union

import torch.nn.functional as F
from torch import Tensor, nn

from m5mm.registry import HEADS, OBJECTIVES
from m5mm.structures import EncoderOutput
from .base_masked_objective import BaseMaskedObjective

if TYPE_CHECKING:
    from m5mm.models.backbones import MultiModalBackbone


@OBJECTIVES.register_module()
class MaskedFeatureRegressionObjective(BaseMaskedObjective):
    """Regress the encoder's ``targets`` at its ``masked`` positions from the fused tokens: the
    pretext task of continuous modalities (image, video, audio, features, a plugin's signal).

    The encoder of ``modality`` masks ``mask_ratio`` of its input tokens and returns
    ``targets`` (B, N, F), a fixed function of the input; a
    :class:`~m5mm.models.heads.FeatureRegressionHead` maps fused tokens (B, N, D) -> (B, N, F).
    The loss is the MSE averaged over masked positions of present samples and the F features.

    Args:
        modality: image / video / audio / a features modality.
        normalize_targets: standardise each target vector (zero mean, unit variance over F)
            before the MSE (MAE's per-patch normalisation).
        head: overrides of the head config (``out_dim`` when the encoder has no ``target_dim``),
            or a built head.
        name: default ``mfm_<modality>``.
        (other args: see :class:`BaseMaskedObjective`)
    """

    def __init__(self, *, modality: str, mask_ratio: float = 0.15, normalize_targets: bool = False,
                 weight_mode: str = 'logits', head: Union[dict, nn.Module, None] = None,
                 backbone: Optional['MultiModalBackbone'] = None, loss_weight: float = 1.0,
                 name: Optional[str] = None) -> None:
        super().__init__(modality=modality, mask_ratio=mask_ratio, weight_mode=weight_mode, backbone=backbone,
                         loss_weight=loss_weight, name=name or f'mfm_{modality}')
        self.normalize_targets = normalize_targets
        self.head = self.build_head(backbone, head)

    @property
    def encoder_mask_ratio(self) -> float:
        """Continuous modalities are masked inside the encoder."""
        return self.mask_ratio

    def build_head(self, backbone: Optional['MultiModalBackbone'], head: Union[dict, nn.Module, None]
                   ) -> nn.Module:
        """A ``FeatureRegressionHead`` from the fusion width to the encoder's target width."""
        if isinstance(head, nn.Module):
            return head
        if backbone is None:
            raise ValueError(f'{type(self).__name__} {self.name!r} needs the backbone to build its head')
        cfg = dict(type='FeatureRegressionHead', **dict(head or {}))
        if 'out_dim' not in cfg:
            encoder = backbone.encoders[self.modality]
            target_dim = getattr(encoder, 'target_dim', None)
            if target_dim is None:
                raise ValueError(f'{type(self).__name__} ({self.modality}): {type(encoder).__name__} has no '
                                 f'`target_dim`; set head=dict(out_dim=F) in the objective config')
            cfg['out_dim'] = int(target_dim)
        return HEADS.build(cfg, default_args=dict(dim=backbone.fused_dim(type(self).__name__)))

    def score(self, *, tokens: Tensor, encoded: EncoderOutput, labels: Optional[Tensor] = None,
              weight: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """tokens (B, N, D) fused; ``encoded.targets`` (B, N, F), ``encoded.masked`` (B, N)."""
        if encoded.targets is None or encoded.masked is None:
            raise ValueError(f'{type(self).__name__} ({self.modality}): the encoder returned no '
                             f'targets/masked positions; was it called with mask_ratio > 0?')
        selected = encoded.masked.bool() & encoded.mask.bool() & encoded.present.bool()[:, None]
        pred, per_pos_w = self._apply_head(tokens, selected, weight)
        target = encoded.targets[selected].detach().float()
        if target.shape[-1] != pred.shape[-1]:
            raise ValueError(f'{type(self).__name__} ({self.modality}): head predicts {pred.shape[-1]} '
                             f'features, targets have {target.shape[-1]}')
        if self.normalize_targets and target.numel():
            target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6).sqrt()
        mse = F.mse_loss(pred.float(), target, reduction='none').mean(-1) if target.numel() \
            else pred.new_zeros(0)
        loss = self._weighted_mean(mse, per_pos_w, pred)
        return {f'loss_{self.name}': loss * self.loss_weight, f'count_{self.name}': mse.numel()}
