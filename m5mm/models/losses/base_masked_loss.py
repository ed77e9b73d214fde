"""Shared behaviour of the masked-modelling losses (MLM, MEM, masked feature regression)."""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
from torch import Tensor, nn

from m5mm.structures import EncoderOutput

WEIGHT_MODES = ('logits', 'loss')


def random_like(shape, *, device: torch.device, generator: Optional[torch.Generator] = None) -> Tensor:
    """Uniform [0, 1) noise from ``generator`` (or torch's global RNG), placed on ``device``."""
    gen_device = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=gen_device).to(device)


def random_ints(high: int, shape, *, device: torch.device,
                generator: Optional[torch.Generator] = None) -> Tensor:
    """Uniform integers in [0, high) from ``generator`` (or the global RNG), on ``device``."""
    gen_device = generator.device if generator is not None else device
    return torch.randint(high, shape, generator=generator, device=gen_device).to(device)


class BaseMaskedLoss(nn.Module):
    """A masked-modelling task of one modality, predicted from its fused tokens by a head.

    The pretrainer calls, in order: :meth:`mask_inputs` on the raw modality inputs (token
    modalities mask ids here), the encoder with :attr:`encoder_mask_ratio` (continuous
    modalities mask inside the encoder), the fusion, :meth:`build_head` once at construction,
    and ``forward``. The harmonizer's ``W[b, i, i]`` enters as ``weight`` (B,):
    ``weight_mode='logits'`` scales the head's outputs of sample b (authors' code), ``'loss'``
    scales sample b's per-position losses (paper). With no masked position the loss is a 0
    that still depends on the head's parameters; absent samples never enter.

    Args:
        modality: the modality whose tokens are masked and predicted.
        mask_ratio: share of maskable units (tokens, entities, patches) to mask.
        weight_mode: 'logits' or 'loss'.
        head: overrides for the head config built by :meth:`build_head`.
        loss_weight: factor of ``loss_{name}``.
        name: key suffix of the outputs.
    """

    def __init__(self, *, modality: str, mask_ratio: float = 0.15, weight_mode: str = 'logits',
                 head: Optional[dict] = None, loss_weight: float = 1.0, name: str = 'masked') -> None:
        super().__init__()
        if weight_mode not in WEIGHT_MODES:
            raise ValueError(f'weight_mode must be one of {WEIGHT_MODES}, got {weight_mode!r}')
        if not 0.0 <= mask_ratio <= 1.0:
            raise ValueError(f'mask_ratio must be in [0, 1], got {mask_ratio}')
        self.modality = modality
        self.mask_ratio = mask_ratio
        self.weight_mode = weight_mode
        self.head_cfg = dict(head or {})
        self.loss_weight = loss_weight
        self.name = name

    @property
    def encoder_mask_ratio(self) -> float:
        """The ``mask_ratio`` the pretrainer passes to this modality's encoder."""
        return 0.0

    def mask_inputs(self, inputs: Dict[str, Tensor], generator: Optional[torch.Generator] = None
                    ) -> Tuple[Dict[str, Tensor], Optional[Tensor]]:
        """Mask the raw inputs before the encoder -> (inputs, labels or None)."""
        return inputs, None

    def build_head(self, *, dim: int, encoder: nn.Module, built: Dict) -> nn.Module:
        """The prediction head for fused tokens of width ``dim``; ``built`` caches shared heads."""
        raise NotImplementedError

    def forward(self, *, tokens: Tensor, encoded: EncoderOutput, head: nn.Module,
                labels: Optional[Tensor] = None, weight: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """tokens: (B, N, D) fused tokens of the modality -> named scalars."""
        raise NotImplementedError

    def _apply_head(self, head: nn.Module, tokens: Tensor, selected: Tensor,
                    weight: Optional[Tensor]) -> Tuple[Tensor, Optional[Tensor]]:
        """Head outputs at ``selected`` (B, N) positions -> ((K, ...), per-position weight (K,) or None)."""
        if selected.shape != tokens.shape[:2]:
            raise ValueError(f'{type(self).__name__} ({self.modality}): fused tokens {tuple(tokens.shape)} '
                             f'do not align with the masked positions {tuple(selected.shape)}')
        out = head(tokens[selected])
        if weight is None:
            return out, None
        per_pos = weight.to(out.dtype)[:, None].expand_as(selected)[selected]   # (K,)
        if self.weight_mode == 'logits':
            out = out * per_pos[:, None]
        return out, per_pos

    def _weighted_mean(self, per_pos_loss: Tensor, per_pos_weight: Optional[Tensor], out: Tensor) -> Tensor:
        """Mean over positions (paper weights applied); 0 tied to the head when nothing is masked."""
        if per_pos_loss.numel() == 0:
            return out.sum() * 0.0
        if per_pos_weight is not None and self.weight_mode == 'loss':
            per_pos_loss = per_pos_loss * per_pos_weight
        return per_pos_loss.mean()
