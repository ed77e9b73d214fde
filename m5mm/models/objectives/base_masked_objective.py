"""Shared behaviour of the masked-modelling objectives (MLM, MEM, masked feature regression)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from m5mm.structures import EncoderOutput
from .base_objective import BaseObjective

if TYPE_CHECKING:
    from m5mm.models.backbones import ForwardContext, MultiModalBackbone

WEIGHT_MODES = ('logits', 'loss')


class BaseMaskedObjective(BaseObjective):
    """A masked-modelling task of one modality, predicted from its fused tokens by its head.

    Per step: :meth:`mask_inputs` masks the raw inputs (token modalities mask ids there), the
    encoder masks :attr:`encoder_mask_ratio` of its tokens (continuous modalities), the fusion
    runs, and :meth:`score` compares the head's predictions at the masked positions with the
    targets. The harmonizer's ``W[b, m, m]`` (from the fused vectors) enters as ``weight``
    (B,): ``weight_mode='logits'`` scales the head's outputs of sample b (authors' code),
    ``'loss'`` scales sample b's per-position losses (paper); its mean over the samples that
    have the modality is logged as ``mask_weight_<m>``. With no masked position the loss is a 0
    that still depends on the head's parameters; absent samples never enter.

    A subclass takes ``head`` (overrides of its head config, or a built head to share, see
    ``share_head`` in :class:`BaseObjective`) and ends its constructor with
    ``self.head = self.build_head(backbone, head)``.

    Args:
        modality: the modality whose tokens are masked and predicted.
        mask_ratio: share of maskable units (tokens, entities, patches) to mask.
        weight_mode: 'logits' or 'loss'.
        backbone: the model's backbone (checked to encode ``modality``; subclasses size and tie their
            head to it).
        loss_weight: factor of ``loss_<name>``.
        name: key suffix of the outputs.
    """

    needs = ('backbone', 'mask_ratio')

    def __init__(self, *, modality: str, mask_ratio: float = 0.15, weight_mode: str = 'logits',
                 backbone: Optional['MultiModalBackbone'] = None, loss_weight: float = 1.0,
                 name: str = 'masked') -> None:
        super().__init__(name=name, loss_weight=loss_weight)
        if weight_mode not in WEIGHT_MODES:
            raise ValueError(f'weight_mode must be one of {WEIGHT_MODES}, got {weight_mode!r}')
        if not 0.0 <= mask_ratio <= 1.0:
            raise ValueError(f'mask_ratio must be in [0, 1], got {mask_ratio}')
        self.modality = modality
        self.modalities = (modality,)
        self.mask_ratio = mask_ratio
        self.weight_mode = weight_mode
        self.check_modality(backbone)

    def check_modality(self, backbone: Optional['MultiModalBackbone']) -> None:
        """Raise a clear error when ``backbone`` has no encoder for :attr:`modality`."""
        if backbone is not None and self.modality not in backbone.modalities:
            raise KeyError(f'{type(self).__name__} {self.name!r} is for modality {self.modality!r}, which has no '
                           f'encoder (modalities: {backbone.modalities})')

    @classmethod
    def required_modalities(cls, cfg: Mapping[str, Any]) -> Tuple[str, ...]:
        """``(modality,)``: a masked objective's config must name its modality."""
        if cfg.get('modality') is None:
            raise KeyError(f'{cls.__name__} needs `modality` in its config')
        return (cfg['modality'],)

    @property
    def masked_modality(self) -> Optional[str]:
        return self.modality

    def build_head(self, backbone: Optional['MultiModalBackbone'], head: Union[dict, nn.Module, None]
                   ) -> nn.Module:
        """The prediction head for the fused tokens of ``backbone`` (or ``head`` itself when built);
        a subclass assigns it to ``self.head`` at the end of its constructor."""
        raise NotImplementedError

    def forward(self, ctx: 'ForwardContext') -> Dict[str, Tensor]:
        """``mask_weight_<m>`` (with a harmonizer), then :meth:`score`'s outputs."""
        out: Dict[str, Tensor] = {}
        weight = ctx.masked_task_weight(self.modality)
        if weight is not None:
            has = ctx.present[self.modality].float()
            out[f'mask_weight_{self.modality}'] = (weight.detach() * has).sum() / has.sum().clamp_min(1.0)
        out.update(self.score(tokens=ctx.fused.tokens[self.modality], encoded=ctx.encoded[self.modality],
                              labels=ctx.labels(self.name), weight=weight))
        return out

    def score(self, *, tokens: Tensor, encoded: EncoderOutput, labels: Optional[Tensor] = None,
              weight: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """tokens: (B, N, D) fused tokens of the modality; labels from :meth:`mask_inputs`;
        weight (B,) or None -> named scalars, with ``count_<name>``, the number of positions the loss
        averages over (see :meth:`_weighted_mean`)."""
        raise NotImplementedError

    def _apply_head(self, tokens: Tensor, selected: Tensor, weight: Optional[Tensor]
                    ) -> Tuple[Tensor, Optional[Tensor]]:
        """Head outputs at ``selected`` (B, N) positions -> ((K, ...), per-position weight (K,) or None)."""
        if selected.shape != tokens.shape[:2]:
            raise ValueError(f'{type(self).__name__} ({self.modality}): fused tokens {tuple(tokens.shape)} '
                             f'do not align with the masked positions {tuple(selected.shape)}')
        out = self.head(tokens[selected])
        if weight is None:
            return out, None
        per_pos = weight.to(out.dtype)[:, None].expand_as(selected)[selected]   # (K,)
        if self.weight_mode == 'logits':
            out = out * per_pos[:, None]
        return out, per_pos

    def _weighted_mean(self, per_pos_loss: Tensor, per_pos_weight: Optional[Tensor], out: Tensor) -> Tensor:
        """Mean over positions (paper weights applied); 0 when nothing is masked (the model gives the
        head its zero gradient). Report ``per_pos_loss.numel()`` as ``count_<name>`` with it."""
        if per_pos_loss.numel() == 0:
            return out.new_zeros((), dtype=torch.float32)
        if per_pos_weight is not None and self.weight_mode == 'loss':
            per_pos_loss = per_pos_loss * per_pos_weight
        return per_pos_loss.mean()
