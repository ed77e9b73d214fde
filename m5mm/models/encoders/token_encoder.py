"""The base of a token-id encoder with its own layers: what masked token modelling needs from it."""
from __future__ import annotations

from typing import Mapping, Optional

import torch
from torch import Tensor, nn

from m5mm.models.layers import TransformerEncoder
from m5mm.structures import EncoderOutput
from .encoder_utils import EncoderInputError, build_projection, fetch, fetch_mask, fetch_present, zero_invalid


class TokenEncoder(nn.Module):
    """Base of an encoder of token ids (a modality whose spec pads a key with ``PAD_ID``).

    It meets the contract of :class:`~m5mm.models.objectives.MaskedLanguageModelObjective` (the
    pretext task SCALE gives every token modality): it reads ``input_ids`` (B, L) long and
    ``attention_mask`` (B, L) bool, returns **one output token per input id** (token 0, the
    ``[CLS]`` the tokenizer writes first, is the global token) and exposes the (vocab, D) input
    embeddings through :meth:`get_word_embeddings` for the tied MLM head. Ids of absent samples
    and padding are replaced by ``pad_token_id`` and masked out, so their data changes nothing.
    ``mask_ratio`` is ignored: MLM masks the ids before the encoder sees them.

    A subclass adds its own layers by overriding :meth:`embed` (e.g. extra per-token embeddings
    from other batch keys); ``vocab_size`` and ``pad_token_id`` come from the dataset's tokenizer
    when the config leaves them out.

    Args:
        vocab_size: number of token ids (the tokenizer's).
        dim: token width D.
        depth, num_heads, mlp_ratio, dropout: the transformer.
        max_length: the longest id sequence (size of the position table).
        pad_token_id: id written at masked positions.
        pooled_proj, pooled_dim: projection of token 0 to ``pooled`` (see ``build_projection``).
    """

    def __init__(self, *, vocab_size: Optional[int] = None, dim: int, depth: int, num_heads: int,
                 mlp_ratio: float = 4.0, dropout: float = 0.0, max_length: int = 128, pad_token_id: int = 0,
                 pooled_proj: str = 'identity', pooled_dim: Optional[int] = None) -> None:
        super().__init__()
        if vocab_size is None:
            raise ValueError(f'{type(self).__name__} needs vocab_size (set from the dataset\'s tokenizer meta '
                             f'when the model is built with data_meta, or given in the config)')
        self.dim = dim
        self.max_length = max_length
        self.pad_token_id = pad_token_id
        self.word_embeddings = nn.Embedding(vocab_size, dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, max_length, dim))
        nn.init.trunc_normal_(self.word_embeddings.weight, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.transformer = TransformerEncoder(dim=dim, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio,
                                              dropout=dropout)
        self.pooled_proj, self.out_dim = build_projection(pooled_proj, dim, pooled_dim)

    def get_word_embeddings(self) -> nn.Embedding:
        """The (vocab, D) input embeddings the MLM head ties its decoder to."""
        return self.word_embeddings

    def embed(self, ids: Tensor, inputs: Mapping[str, Tensor], valid: Tensor) -> Tensor:
        """(B, L) ids (pad at invalid positions) -> (B, L, D) input tokens: words + positions.

        Override to add layers; ``inputs`` is the modality's batch entry, ``valid`` (B, L) bool."""
        return self.word_embeddings(ids) + self.pos_embed[:, :ids.shape[1]]

    def forward(self, inputs: Mapping[str, Tensor], mask_ratio: float = 0.0) -> EncoderOutput:
        """inputs: ``input_ids`` (B, L), ``attention_mask`` (B, L), ``present`` (B,) -> L tokens (B, L, D)."""
        name = type(self).__name__
        ids = fetch(inputs, 'input_ids', '(B, L)', name)
        if ids.shape[1] > self.max_length:
            raise EncoderInputError(f'{name}: {ids.shape[1]} tokens exceed max_length={self.max_length}; raise it '
                                    f'or tokenise with a smaller max_length')
        present = fetch_present(inputs, ids.shape[0], name)
        valid = fetch_mask(inputs, 'attention_mask', ids, name) & present[:, None]
        x = zero_invalid(self.embed(ids.long().masked_fill(~valid, self.pad_token_id), inputs, valid), valid)
        tokens = self.transformer(x, valid)
        return EncoderOutput(tokens=tokens, mask=valid, pooled=self.pooled_proj(tokens[:, 0]), present=present)
