"""Masked language modelling: BERT 80/10/10 masking, a head tied to the encoder's word embeddings."""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from m5mm.registry import HEADS, OBJECTIVES
from m5mm.structures import EncoderOutput
from .base_masked_objective import BaseMaskedObjective
from .sampling import random_ints, random_like

if TYPE_CHECKING:
    from m5mm.models.backbones import MultiModalBackbone

TOKENIZER_KEYS = ('vocab_size', 'pad_id', 'cls_id', 'sep_id', 'mask_id')
IGNORE_INDEX = -100


@OBJECTIVES.register_module()
class MaskedLanguageModelObjective(BaseMaskedObjective):
    """Masked token modelling of any token modality (titles, descriptions): ``mask_ratio`` of the
    non-special, non-padding tokens of present samples are chosen; of those ``replace_prob``
    become [MASK], ``random_prob`` a random token and the rest stay unchanged; cross-entropy of
    the original ids from the fused tokens, through a :class:`~m5mm.models.heads.MaskedTokenHead`
    tied to the modality encoder's word embeddings (``get_word_embeddings()``).

    Outputs ``loss_<name>``, ``acc_<name>`` (and ``mask_weight_<modality>`` with a harmonizer).

    Args:
        modality: the token modality (batch keys ``input_ids``, ``attention_mask``).
        data_meta: the dataset's meta; its ``tokenizer`` gives ``vocab_size``, ``pad_id``,
            ``cls_id``, ``sep_id``, ``mask_id``.
        replace_prob: share of chosen tokens replaced by [MASK].
        random_prob: share of chosen tokens replaced by a random id.
        head: overrides of the ``MaskedTokenHead`` config, or a built head tied to the same
            embeddings (e.g. ``share_head='mlm'`` for a table sharing the title's BERT).
        (other args: see :class:`BaseMaskedObjective`)
    """

    needs = ('backbone', 'data_meta', 'mask_ratio')

    def __init__(self, *, modality: str, data_meta: Optional[dict] = None, mask_ratio: float = 0.15,
                 replace_prob: float = 0.8, random_prob: float = 0.1, weight_mode: str = 'logits',
                 head: Union[dict, nn.Module, None] = None, backbone: Optional['MultiModalBackbone'] = None,
                 loss_weight: float = 1.0, name: str = 'mlm') -> None:
        super().__init__(modality=modality, mask_ratio=mask_ratio, weight_mode=weight_mode, backbone=backbone,
                         loss_weight=loss_weight, name=name)
        tokenizer = dict((data_meta or {}).get('tokenizer') or {})
        missing = [k for k in TOKENIZER_KEYS if tokenizer.get(k) is None]
        if missing:
            raise ValueError(f'{type(self).__name__} needs tokenizer ids {list(TOKENIZER_KEYS)} '
                             f'(data_meta["tokenizer"]); missing {missing}')
        if replace_prob < 0 or random_prob < 0 or replace_prob + random_prob > 1:
            raise ValueError(f'need replace_prob, random_prob >= 0 with sum <= 1, got {replace_prob}, '
                             f'{random_prob}')
        self.vocab_size = int(tokenizer['vocab_size'])
        self.mask_id = int(tokenizer['mask_id'])
        self.special_ids = sorted({int(tokenizer[k]) for k in TOKENIZER_KEYS[1:]})
        self.replace_prob = replace_prob
        self.random_prob = random_prob
        self.head = self.build_head(backbone, head)

    def build_head(self, backbone: Optional['MultiModalBackbone'], head: Union[dict, nn.Module, None]
                   ) -> nn.Module:
        """A ``MaskedTokenHead`` tied to the encoder's word embeddings, or ``head`` if it is one."""
        if backbone is None:
            if isinstance(head, nn.Module):
                return head
            raise ValueError(f'{type(self).__name__} {self.name!r} needs the backbone to build its head')
        encoder = backbone.encoders[self.modality]
        if not hasattr(encoder, 'get_word_embeddings'):
            raise TypeError(f'{type(self).__name__} needs the {self.modality!r} encoder to provide '
                            f'get_word_embeddings(); {type(encoder).__name__} does not')
        embedding = encoder.get_word_embeddings()
        if isinstance(head, nn.Module):
            if getattr(head, 'decoder', None) is None or head.decoder.weight is not embedding.weight:
                raise ValueError(f'{type(self).__name__} {self.name!r}: the shared head is not tied to the '
                                 f'{self.modality!r} encoder\'s word embeddings (share a head only between '
                                 f'modalities whose encoders share one model)')
            return head
        return HEADS.build(dict(type='MaskedTokenHead', **dict(head or {})), default_args=dict(
            dim=backbone.fused_dim(type(self).__name__), vocab_size=self.vocab_size, embedding=embedding))

    def candidates(self, inputs: Dict[str, Tensor]) -> Tensor:
        """(B, L) bool: real, non-special tokens of present samples."""
        ids = inputs['input_ids']
        special = torch.isin(ids, torch.tensor(self.special_ids, device=ids.device))
        return inputs['attention_mask'].bool() & inputs['present'].bool()[:, None] & ~special

    def choose(self, inputs: Dict[str, Tensor],
               generator: Optional[torch.Generator]) -> Tuple[Tensor, Tensor]:
        """-> (chosen (B, L) bool, per-token uniform draw deciding mask/random/keep (B, L))."""
        cand = self.candidates(inputs)
        chosen = cand & (random_like(cand.shape, device=cand.device, generator=generator) < self.mask_ratio)
        action = random_like(cand.shape, device=cand.device, generator=generator)
        return chosen, action

    def mask_inputs(self, inputs: Dict[str, Tensor], generator: Optional[torch.Generator] = None
                    ) -> Tuple[Dict[str, Tensor], Tensor]:
        """-> (inputs with masked ``input_ids``, labels (B, L): original id at chosen, -100 elsewhere)."""
        for key in ('input_ids', 'attention_mask', 'present'):
            if key not in inputs:
                raise KeyError(f'{type(self).__name__}: batch[{self.modality!r}] has no {key!r} '
                               f'(keys: {sorted(inputs)})')
        ids = inputs['input_ids']
        chosen, action = self.choose(inputs, generator)
        labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE_INDEX))
        to_mask = chosen & (action < self.replace_prob)
        to_random = chosen & (action >= self.replace_prob) & (action < self.replace_prob + self.random_prob)
        rand_ids = random_ints(self.vocab_size, ids.shape, device=ids.device, generator=generator)
        masked = torch.where(to_mask, torch.full_like(ids, self.mask_id), ids)
        masked = torch.where(to_random, rand_ids.to(ids.dtype), masked)
        return {**inputs, 'input_ids': masked}, labels

    def score(self, *, tokens: Tensor, encoded: EncoderOutput, labels: Optional[Tensor] = None,
              weight: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """tokens (B, L, D) fused; labels (B, L) from :meth:`mask_inputs`; weight (B,) or None."""
        if labels is None:
            raise ValueError(f'{type(self).__name__} needs the labels returned by mask_inputs')
        selected = labels != IGNORE_INDEX
        logits, per_pos_w = self._apply_head(tokens, selected, weight)
        target = labels[selected]
        ce = F.cross_entropy(logits.float(), target, reduction='none')
        loss = self._weighted_mean(ce, per_pos_w, logits)
        acc = (logits.detach().argmax(-1) == target).float().mean() if target.numel() else loss.detach() * 0
        return {f'loss_{self.name}': loss * self.loss_weight, f'acc_{self.name}': acc, f'count_{self.name}': ce.numel()}
