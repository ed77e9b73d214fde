"""Attribute-table tower on a pretrained text encoder, keeping key/value segment embeddings."""
from __future__ import annotations

import logging

import torch
from torch import nn

from m5mm.registry import ENCODERS

from .pretrained_text_encoder import PretrainedTextEncoder
from .table_bert_encoder import TableBertEncoder

logger = logging.getLogger(__name__)


@ENCODERS.register_module()
class PretrainedTableEncoder(PretrainedTextEncoder, TableBertEncoder):
    """:class:`PretrainedTextEncoder` that also feeds ``token_type_ids`` (0 key, 1 value) to the
    model's segment embeddings, like :class:`TableBertEncoder`.

    Models with a single segment type (RoBERTa, XLM-R) get a second one, initialised as a copy
    of the first; it trains unless the backbone is frozen (then keys and values are told apart
    by their words only). With ``share_text_table`` the pretrainer passes the text tower's
    backbone (give no ``pretrained`` here). Arguments: see :class:`PretrainedTextEncoder`.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._add_value_segment()

    def _add_value_segment(self) -> None:
        embeddings = getattr(self.backbone, 'embeddings', None)
        old = getattr(embeddings, 'token_type_embeddings', None)
        if self.backbone.config.type_vocab_size >= 2:
            return
        if not isinstance(old, nn.Embedding):
            raise ValueError(f'{type(self.backbone).__name__} has one segment type and no token_type_embeddings to '
                             f'extend; the table tower needs key/value segments (use a BERT-style model)')
        new = nn.Embedding(2, old.embedding_dim).to(device=old.weight.device, dtype=old.weight.dtype)
        with torch.no_grad():
            new.weight.copy_(old.weight[0].expand(2, -1))
        new.weight.requires_grad_(not self.frozen)
        embeddings.token_type_embeddings = new
        self.backbone.config.type_vocab_size = 2
        logger.info('m5mm: %s had one segment type; added a value segment (copy of the first, %s)',
                    self.pretrained, 'frozen' if self.frozen else 'trained')
