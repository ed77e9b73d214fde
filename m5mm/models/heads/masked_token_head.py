"""BERT-style LM head whose decoder is tied to a word-embedding matrix."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from m5mm.registry import HEADS


@HEADS.register_module()
class MaskedTokenHead(nn.Module):
    """``Linear(dim -> E) -> GELU -> LayerNorm -> logits = h @ embedding.T + bias``.

    With ``embedding`` the decoder weight IS the embedding's weight (tied, as in BERT; it is
    saved with the embedding, not with the head), and E is the embedding width; without, the
    decoder is a free ``Linear(E=dim -> vocab_size)``.

    Args:
        dim: width of the fused tokens.
        vocab_size: number of token ids (must not exceed the embedding's rows when tied).
        embedding: word embeddings to tie the decoder to.
        transform: apply the dense + GELU + LayerNorm transform (BERT's) before decoding.
    """

    def __init__(self, *, dim: int, vocab_size: int, embedding: Optional[nn.Embedding] = None,
                 transform: bool = True) -> None:
        super().__init__()
        emb_dim = embedding.embedding_dim if embedding is not None else dim
        if embedding is not None and vocab_size > embedding.num_embeddings:
            raise ValueError(f'MaskedTokenHead: vocab_size {vocab_size} exceeds the tied embedding\'s '
                             f'{embedding.num_embeddings} rows')
        self.transform = nn.Sequential(nn.Linear(dim, emb_dim), nn.GELU(), nn.LayerNorm(emb_dim)) \
            if transform else (nn.Identity() if emb_dim == dim else nn.Linear(dim, emb_dim))
        num_out = embedding.num_embeddings if embedding is not None else vocab_size
        self.decoder = nn.Linear(emb_dim, num_out, bias=False)
        if embedding is not None:
            self.decoder.weight = embedding.weight
        self.bias = nn.Parameter(torch.zeros(num_out))
        self.tied = embedding is not None
        if self.tied:  # the embedding's owner saves the weight (a frozen pretrained tower: not at all)
            self.register_state_dict_post_hook(_drop_tied_weight)

    def _load_from_state_dict(self, state_dict, prefix, *args) -> None:
        if self.tied:  # a tied weight is the embedding's, loaded (or kept from the source) by its owner
            state_dict.setdefault(prefix + 'decoder.weight', self.decoder.weight.detach())
        super()._load_from_state_dict(state_dict, prefix, *args)

    def forward(self, x: Tensor) -> Tensor:
        """x: (..., dim) -> (..., V) logits (V = the embedding's rows when tied)."""
        return self.decoder(self.transform(x.to(self.bias.dtype))) + self.bias


def _drop_tied_weight(module: MaskedTokenHead, state_dict, prefix: str, local_metadata) -> None:
    state_dict.pop(prefix + 'decoder.weight', None)
