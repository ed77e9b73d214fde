"""TokenEncoder: the documented base of a token encoder with its own layers meets what MLM needs."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from m5mm.models.encoders import EncoderInputError, TokenEncoder
from m5mm.registry import ENCODERS, MODELS
from m5mm.testing import SIZES, make_batch, tiny_data_meta


@ENCODERS.register_module(force=True)
class TypedTokenTestEncoder(TokenEncoder):
    """A subclass with a layer of its own: a learned embedding per token parity."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.parity = nn.Embedding(2, self.dim)

    def embed(self, ids, inputs, valid):
        return super().embed(ids, inputs, valid) + self.parity(ids % 2)


def tiny_encoder(**overrides) -> TokenEncoder:
    cfg = dict(type='TypedTokenTestEncoder', vocab_size=SIZES['vocab_size'], dim=16, depth=1, num_heads=2,
               max_length=SIZES['text_len'])
    return ENCODERS.build({**cfg, **overrides})


def test_one_token_per_id_masks_and_invariance_to_padding_and_absent_data():
    torch.manual_seed(0)
    encoder = tiny_encoder().eval()
    entry = make_batch(4, modalities=['text'], absent={'text': [2]})['text']
    out = encoder(entry)
    assert out.tokens.shape == (4, SIZES['text_len'], 16) and out.pooled.shape == (4, 16)
    assert out.mask.tolist() == (entry['attention_mask'] & entry['present'][:, None]).tolist()
    scrambled = dict(entry, input_ids=torch.where(out.mask, entry['input_ids'],
                                                  torch.randint(0, SIZES['vocab_size'], entry['input_ids'].shape)))
    again = encoder(scrambled)
    torch.testing.assert_close(again.tokens[out.mask], out.tokens[out.mask])
    assert encoder.get_word_embeddings() is encoder.word_embeddings
    with pytest.raises(EncoderInputError, match='input_ids'):
        encoder({'input_ids': entry['input_ids'][:, :, None], 'present': entry['present']})
    with pytest.raises(EncoderInputError, match='max_length'):
        tiny_encoder(max_length=4)(entry)


def test_mlm_trains_on_a_token_encoder_with_its_own_layers():
    torch.manual_seed(0)
    encoder = dict(type='TypedTokenTestEncoder', dim=16, depth=1, num_heads=2, max_length=SIZES['text_len'])
    model = MODELS.build(dict(
        type='MultiModalPretrainer', encoders=dict(text=encoder),   # vocab_size / pad id from the tokenizer meta
        fusion=dict(type='ScaleFusion', dim=16, depth=1, num_heads=2),
        objectives=dict(mlm=dict(type='MaskedLanguageModelObjective', modality='text', mask_ratio=0.3))),
        default_args=dict(data_meta=tiny_data_meta(['text'])))
    text = model.backbone.encoders['text']
    assert model.objectives['mlm'].head.decoder.weight is text.get_word_embeddings().weight   # tied
    batch = make_batch(8, modalities=['text'], absent={})
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(30):
        loss = model(batch)['loss_mlm']
        optimizer.zero_grad()
        loss.backward()
        if step == 0:
            unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
            assert not unused, unused
        optimizer.step()
        losses.append(float(loss.detach()))
    assert sum(losses[-5:]) / 5 < 0.9 * sum(losses[:5]) / 5, losses   # from ln(vocab) = 4.6
