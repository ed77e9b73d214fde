"""Tokenise an attribute table (key/value pairs)."""
from __future__ import annotations

from typing import List, Sequence, Tuple

import torch

from m5mm.registry import TRANSFORMS

from .tokenize_text import require_tokenizer


def pack_pairs(pair_tokens: Sequence[Tuple[List[int], List[int]]], budget: int
               ) -> Tuple[List[int], List[int], List[int]]:
    """Concatenate key then value tokens of each pair within ``budget`` tokens.

    Whole pairs are kept while they fit; the first pair that does not fit ends the table,
    except when nothing is kept yet, then it is cut (key first, then value).

    Returns:
        ids, segment ids (0 key, 1 value) and pair indices, all of the same length.
    """
    ids: List[int] = []
    segments: List[int] = []
    pairs: List[int] = []
    for index, (key, value) in enumerate(pair_tokens):
        size = len(key) + len(value)
        if size == 0:
            continue
        if size > budget - len(ids):
            if ids:
                break
            key = key[:budget]
            value = value[:budget - len(key)]
        ids += key + value
        segments += [0] * len(key) + [1] * len(value)
        pairs += [index] * (len(key) + len(value))
    return ids, segments, pairs


@TRANSFORMS.register_module()
class TokenizeTable:
    """``results['value']`` (``[(key, value), ...]``) -> ``input_ids``, ``token_type_ids``, ``pair_ids`` (L,).

    Layout ``[CLS] k0 v0 k1 v1 ... [SEP]``: ``token_type_ids`` is 0 on key tokens, 1 on value
    tokens (0 on specials); ``pair_ids`` is the pair index of each token, -1 on specials.

    Pairs are tokenized a budget's worth at a time until the budget is exceeded (the pairs after
    that could not be packed), each text read only as far as the budget needs, so a huge table
    costs no more than a full one.

    Args:
        max_length: most tokens including [CLS] and [SEP] (64 in the paper); tables are cut at
            pair boundaries.
    """

    def __init__(self, *, max_length: int = 64) -> None:
        if max_length < 3:
            raise ValueError(f'max_length must be >= 3, got {max_length}')
        self.max_length = max_length

    def __call__(self, results: dict) -> dict:
        tokenizer = require_tokenizer(results, 'TokenizeTable')
        budget = self.max_length - 2
        ids, segments, pair_ids = pack_pairs(self._pair_tokens(tokenizer, results['value'], budget), budget)
        results['input_ids'] = torch.tensor([tokenizer.cls_id, *ids, tokenizer.sep_id], dtype=torch.long)
        results['token_type_ids'] = torch.tensor([0, *segments, 0], dtype=torch.long)
        results['pair_ids'] = torch.tensor([-1, *pair_ids, -1], dtype=torch.long)
        return results

    @staticmethod
    def _pair_tokens(tokenizer, pairs: Sequence[Tuple[str, str]], budget: int) -> List[Tuple[List[int], List[int]]]:
        """Key and value tokens (each cut to ``budget``) of the leading pairs, up to the first pair that
        brings the total over ``budget``: :func:`pack_pairs` keeps nothing after it, so the ids are
        those of the whole table."""
        out: List[Tuple[List[int], List[int]]] = []
        total = 0
        for start in range(0, len(pairs), budget):
            chunk = pairs[start:start + budget]
            encoded = tokenizer.encode_many([text for pair in chunk for text in pair], max_tokens=budget)
            for key, value in zip(encoded[0::2], encoded[1::2]):
                out.append((key, value))
                total += len(key) + len(value)
                if total > budget:
                    return out
        return out

    def __repr__(self) -> str:
        return f'TokenizeTable(max_length={self.max_length})'
