"""Tokenise a title."""
from __future__ import annotations

import torch

from m5mm.registry import TRANSFORMS


def require_tokenizer(results: dict, transform: str):
    """The dataset's tokenizer from ``results``, with a clear error when there is none."""
    tokenizer = results.get('tokenizer')
    if tokenizer is None:
        raise ValueError(f'{transform} needs a tokenizer: give the dataset tokenizer=dict(path=..., '
                         f'vocab_size=...) (path None trains one in DATA_ROOT/tokenizer)')
    return tokenizer


@TRANSFORMS.register_module()
class TokenizeText:
    """``results['value']`` (a string) -> ``results['input_ids']`` (L,) long: ``[CLS] ... [SEP]``.

    Only the start of a very long text is read (see :func:`~m5mm.datasets.tokenizer.cut_for_tokens`).

    Args:
        max_length: most tokens including [CLS] and [SEP] (36 in the paper).
    """

    def __init__(self, *, max_length: int = 36) -> None:
        if max_length < 3:
            raise ValueError(f'max_length must be >= 3, got {max_length}')
        self.max_length = max_length

    def __call__(self, results: dict) -> dict:
        tokenizer = require_tokenizer(results, 'TokenizeText')
        ids = tokenizer.encode(results['value'], max_tokens=self.max_length - 2)
        results['input_ids'] = torch.tensor([tokenizer.cls_id, *ids, tokenizer.sep_id], dtype=torch.long)
        return results

    def __repr__(self) -> str:
        return f'TokenizeText(max_length={self.max_length})'
