"""Table (attribute key/value pairs) encoder: the text encoder plus key/value segment ids."""
from __future__ import annotations

from typing import Dict, Mapping

from torch import Tensor

from m5mm.registry import ENCODERS

from .encoder_utils import EncoderInputError, fetch
from .text_bert_encoder import TextBertEncoder


@ENCODERS.register_module()
class TableBertEncoder(TextBertEncoder):
    """:class:`TextBertEncoder` whose backbone also reads ``token_type_ids`` (B, L) (0 key,
    1 value) through its segment embeddings.

    Same arguments as ``TextBertEncoder``; pass ``backbone=encoders['text'].backbone`` to share
    the text encoder's model (the pretrainer does so when the config shares text and table).
    ``pair_ids`` are not read here (the MEM loss uses them). A shared backbone that was loaded
    from a pretrained folder keeps ``pretrained_prefixes = ['backbone.']``.
    """

    def extra_backbone_inputs(self, inputs: Mapping[str, Tensor], valid: Tensor) -> Dict[str, Tensor]:
        """``token_type_ids`` (B, L), 0 at masked positions; checked against the model's segment count."""
        name = type(self).__name__
        segments = fetch(inputs, 'token_type_ids', '(B, L)', name)
        if segments.shape != valid.shape:
            raise EncoderInputError(f'{name}: token_type_ids {tuple(segments.shape)} does not match '
                                    f'input_ids {tuple(valid.shape)}')
        segments = segments.long().masked_fill(~valid, 0)
        num_types = self.backbone.config.type_vocab_size
        if segments.numel() and (int(segments.min()) < 0 or int(segments.max()) >= num_types):
            raise EncoderInputError(f'{name}: token_type_ids must be in [0, {num_types}) (0 key, 1 value), '
                                    f'got values in [{int(segments.min())}, {int(segments.max())}]')
        return {'token_type_ids': segments}
