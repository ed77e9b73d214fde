"""Masked entity modelling on tables: whole keys or whole values of chosen pairs are masked."""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from m5mm.registry import OBJECTIVES
from .masked_language_model_objective import MaskedLanguageModelObjective
from .sampling import random_like

if TYPE_CHECKING:
    from m5mm.models.backbones import MultiModalBackbone


@OBJECTIVES.register_module()
class MaskedEntityModelObjective(MaskedLanguageModelObjective):
    """MEM: ``mask_ratio`` of each present sample's key/value pairs (``pair_ids``) are chosen;
    for each, the whole key or the whole value (50/50, by ``token_type_ids``: 0 key, 1 value)
    is masked; cross-entropy through a tied LM head (entity masking beats word masking on
    tables in the paper; SCALE shares the title's head: ``share_head='mlm'``). The
    mask/random/keep decision is drawn once per entity, so an entity is replaced as a whole.

    Args:
        value_prob: probability of masking the value rather than the key of a chosen pair.
        replace_prob: share of chosen entities replaced by [MASK] tokens (default: all).
        random_prob: share of chosen entities replaced by random tokens.
        (other args: see :class:`MaskedLanguageModelObjective`)
    """

    def __init__(self, *, modality: str, data_meta: Optional[dict] = None, mask_ratio: float = 0.15,
                 value_prob: float = 0.5, replace_prob: float = 1.0, random_prob: float = 0.0,
                 weight_mode: str = 'logits', head: Union[dict, nn.Module, None] = None,
                 backbone: Optional['MultiModalBackbone'] = None, loss_weight: float = 1.0,
                 name: str = 'mem') -> None:
        super().__init__(modality=modality, data_meta=data_meta, mask_ratio=mask_ratio, replace_prob=replace_prob,
                         random_prob=random_prob, weight_mode=weight_mode, head=head, backbone=backbone,
                         loss_weight=loss_weight, name=name)
        self.value_prob = value_prob

    def choose(self, inputs: Dict[str, Tensor],
               generator: Optional[torch.Generator]) -> Tuple[Tensor, Tensor]:
        """-> (chosen tokens (B, L) bool, per-entity action draw broadcast to tokens (B, L))."""
        for key in ('pair_ids', 'token_type_ids'):
            if key not in inputs:
                raise KeyError(f'{type(self).__name__}: batch[{self.modality!r}] has no {key!r} '
                               f'(keys: {sorted(inputs)})')
        cand = self.candidates(inputs)
        pair_ids = inputs['pair_ids'].long()
        cand = cand & (pair_ids >= 0)
        n_pairs = int(pair_ids.max().item()) + 1 if pair_ids.numel() else 0
        batch, device = pair_ids.shape[0], pair_ids.device
        shape = (batch, max(n_pairs, 1))
        pick = random_like(shape, device=device, generator=generator) < self.mask_ratio
        part = (random_like(shape, device=device, generator=generator) < self.value_prob).long()
        action = random_like(shape, device=device, generator=generator)
        index = pair_ids.clamp_min(0)
        chosen = cand & pick.gather(1, index) & (inputs['token_type_ids'].long() == part.gather(1, index))
        return chosen, action.gather(1, index)
