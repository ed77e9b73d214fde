"""Masked language modelling on titles: BERT 80/10/10 masking, a head tied to word embeddings."""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from m5mm.registry import HEADS, LOSSES
from m5mm.structures import EncoderOutput
from .base_masked_loss import BaseMaskedLoss, random_ints, random_like

TOKENIZER_KEYS = ('vocab_size', 'pad_id', 'cls_id', 'sep_id', 'mask_id')
IGNORE_INDEX = -100


@LOSSES.register_module()
class MaskedLanguageModelLoss(BaseMaskedLoss):
    """MLM: ``mask_ratio`` of the non-special, non-padding tokens of present samples are
    chosen; of those ``replace_prob`` become [MASK], ``random_prob`` a random token and the
    rest stay unchanged; cross-entropy of the original ids from the fused tokens, through a
    :class:`MaskedTokenHead` tied to the encoder's word embeddings.

    Args:
        tokenizer: the dataset meta's tokenizer dict: ``vocab_size``, ``pad_id``, ``cls_id``,
            ``sep_id``, ``mask_id`` (the pretrainer passes it from ``data_meta``).
        modality: the token modality (batch keys ``input_ids``, ``attention_mask``).
        replace_prob: share of chosen tokens replaced by [MASK].
        random_prob: share of chosen tokens replaced by a random id.
        (other args: see :class:`BaseMaskedLoss`)
    """

    def __init__(self, *, tokenizer: Optional[dict] = None, modality: str = 'text', mask_ratio: float = 0.15,
                 replace_prob: float = 0.8, random_prob: float = 0.1, weight_mode: str = 'logits',
                 head: Optional[dict] = None, loss_weight: float = 1.0, name: str = 'mlm') -> None:
        super().__init__(modality=modality, mask_ratio=mask_ratio, weight_mode=weight_mode, head=head,
                         loss_weight=loss_weight, name=name)
        missing = [k for k in TOKENIZER_KEYS if (tokenizer or {}).get(k) is None]
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

    def build_head(self, *, dim: int, encoder: nn.Module, built: Dict) -> nn.Module:
        """A :class:`MaskedTokenHead` tied to ``encoder.get_word_embeddings()`` (shared per embedding)."""
        if not hasattr(encoder, 'get_word_embeddings'):
            raise TypeError(f'{type(self).__name__} needs the {self.modality!r} encoder to provide '
                            f'get_word_embeddings(); {type(encoder).__name__} does not')
        embedding = encoder.get_word_embeddings()
        key = ('lm_head', id(embedding), dim, tuple(sorted(self.head_cfg.items())))
        if key not in built:
            cfg = dict(type='MaskedTokenHead', **self.head_cfg)
            built[key] = HEADS.build(cfg, default_args=dict(dim=dim, vocab_size=self.vocab_size,
                                                            embedding=embedding))
        return built[key]

    def forward(self, *, tokens: Tensor, encoded: EncoderOutput, head: nn.Module,
                labels: Optional[Tensor] = None, weight: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """tokens (B, L, D) fused; labels (B, L) from :meth:`mask_inputs`; weight (B,) or None."""
        if labels is None:
            raise ValueError(f'{type(self).__name__} needs the labels returned by mask_inputs')
        selected = labels != IGNORE_INDEX
        logits, per_pos_w = self._apply_head(head, tokens, selected, weight)
        target = labels[selected]
        ce = F.cross_entropy(logits.float(), target, reduction='none')
        loss = self._weighted_mean(ce, per_pos_w, logits)
        acc = (logits.detach().argmax(-1) == target).float().mean() if target.numel() else loss.detach() * 0
        return {f'loss_{self.name}': loss * self.loss_weight, f'acc_{self.name}': acc}
