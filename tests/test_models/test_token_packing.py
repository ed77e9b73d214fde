"""Token packing: packed transformer stacks equal the padded ones on valid tokens, do less work,
and a whole SCALE step gives the padded step's losses and gradients."""
import copy

import pytest
import torch
from torch import nn

from m5mm.models.builders import build_model
from m5mm.models.encoders import TableBertEncoder, TextBertEncoder
from m5mm.models.layers import PackedLayout, TransformerEncoder
from m5mm.models.layers.token_packing import set_token_packing
from tests.test_models.batch_factory import TOKENS, make_batch, tiny_data_meta, tiny_encoder_cfgs
from tests.test_models.test_pretrainer import _model, _objectives, _total


def _without_dropout(model: nn.Module) -> nn.Module:
    """Packing draws dropout masks over its own (smaller) shapes: equal in distribution, not in
    values; equality is checked without dropout."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    return model


def _uneven_mask():
    mask = torch.zeros(5, 7, dtype=torch.bool)
    mask[0, :7] = True          # full
    mask[1, :3] = True          # padded
    mask[3, [0, 2, 5]] = True   # holes (absent modality segments inside a fused sequence)
    mask[4, 1:4] = True         # row 2 has no valid token (an absent sample)
    return mask


def test_layout_places_each_sample_at_the_front_of_its_compact_row():
    layout = PackedLayout.from_mask(_uneven_mask())
    assert (layout.rows, layout.length, layout.num_tokens) == (4, 7, 16)
    x = torch.arange(35.0).reshape(5, 7, 1)
    compact = layout.to_compact(layout.pack(x))[..., 0]
    assert compact[2, :3].tolist() == [21.0, 23.0, 26.0] and compact[2, 3:].eq(0).all()
    assert layout.attn_mask[:, 0, 0].sum(dim=1).tolist() == [7, 3, 3, 3]
    assert torch.equal(layout.unpack(layout.pack(x)), x * _uneven_mask()[..., None])


@pytest.mark.parametrize('mask', [_uneven_mask(), torch.ones(5, 7, dtype=torch.bool).tril()[:, :7]])
def test_packed_stack_equals_padded_stack_on_valid_tokens(mask):
    torch.manual_seed(0)
    stack = TransformerEncoder(dim=16, depth=2, num_heads=2)
    x = torch.randn(mask.shape[0], mask.shape[1], 16, requires_grad=True)
    padded = stack(x, mask)
    stack.pack_tokens = True
    packed = stack(x, mask)
    valid = mask[..., None]
    torch.testing.assert_close(packed * valid, padded * valid, atol=1e-5, rtol=1e-5)
    assert packed[~mask].eq(0).all()
    grad_padded, = torch.autograd.grad((padded * valid).square().sum(), x)
    grad_packed, = torch.autograd.grad((packed * valid).square().sum(), x)
    torch.testing.assert_close(grad_packed, grad_padded, atol=1e-5, rtol=1e-4)


def test_packed_stack_runs_only_valid_tokens():
    stack = TransformerEncoder(dim=16, depth=1, num_heads=2)
    stack.pack_tokens = True
    seen = []
    stack.blocks[0].mlp.register_forward_hook(lambda mod, args, out: seen.append(args[0].shape[0]))
    stack(torch.randn(5, 7, 16), _uneven_mask())
    assert seen == [16]                       # 16 valid tokens, not 5 x 7
    x = torch.randn(5, 7, 16)
    out = stack(x, torch.zeros(5, 7, dtype=torch.bool))
    assert seen == [16, 1] and out.eq(0).all()  # nothing valid: one dummy token, for the gradients


def test_a_modality_absent_from_the_whole_batch_still_gives_every_parameter_a_gradient():
    """As in the padded path (DDP runs with find_unused_parameters=False)."""
    model = _model()
    set_token_packing(model)
    batch = make_batch(4, absent={'audio': [0, 1, 2, 3], 'video': [0, 1, 2, 3]})
    _total(model(batch)).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, missing[:5]


@pytest.mark.parametrize('absent', [None, {'image': [0, 1], 'video': [1, 2, 3], 'audio': [0, 1, 2], 'table': [2]}])
def test_packed_scale_step_equals_padded_step(absent):
    """Missing modalities and uneven lengths: same losses and gradients (same masking draws)."""
    batch = make_batch(4, absent=absent)
    padded = _without_dropout(_model())
    packed = copy.deepcopy(padded)
    assert set_token_packing(packed)
    torch.manual_seed(1)
    out_padded = padded(batch)
    torch.manual_seed(1)
    out_packed = packed(batch)
    assert out_padded.keys() == out_packed.keys()
    for key in out_padded:
        torch.testing.assert_close(out_packed[key], out_padded[key], atol=1e-5, rtol=1e-4, msg=key)
    _total(out_padded).backward()
    _total(out_packed).backward()
    for (name, a), (_, b) in zip(padded.named_parameters(), packed.named_parameters()):
        if a.grad is not None:
            torch.testing.assert_close(b.grad, a.grad, atol=1e-5, rtol=1e-3, msg=name)


def test_pack_tokens_is_a_model_switch():
    cfg = dict(type='ScalePretrainer', encoders=tiny_encoder_cfgs(32), objectives=_objectives(),
               fusion=dict(type='ScaleFusion', dim=32, depth=1, num_heads=2), pack_tokens=True)
    model = build_model(cfg, tiny_data_meta())
    stacks = [m for m in model.modules() if isinstance(m, TransformerEncoder)]
    assert stacks and all(s.pack_tokens for s in stacks)
    plain = build_model({k: v for k, v in cfg.items() if k != 'pack_tokens'}, tiny_data_meta())
    assert not any(m.pack_tokens for m in plain.modules() if isinstance(m, TransformerEncoder))


def _bert_batch():
    """4 samples: full, padded, absent, present with a short title; columns 6-8 padding for all."""
    torch.manual_seed(0)
    ids = torch.randint(5, 40, (4, 9))
    mask = torch.zeros(4, 9, dtype=torch.bool)
    mask[0, :6] = True
    mask[1, :3] = True
    mask[3, :2] = True
    present = torch.tensor([True, True, False, True])
    return dict(input_ids=ids, attention_mask=mask, present=present,
                token_type_ids=(torch.arange(9) % 2).expand(4, 9).clone())


@pytest.mark.parametrize('encoder_type', [TextBertEncoder, TableBertEncoder])
def test_packed_bert_tower_equals_padded_on_present_rows_and_runs_only_them(encoder_type):
    torch.manual_seed(0)
    encoder = _without_dropout(encoder_type(vocab_size=40, hidden_size=16, num_layers=2, num_heads=2,
                                            intermediate_size=32, max_position=16, pad_token_id=TOKENS['pad_id']))
    batch = _bert_batch()
    padded = encoder(batch)
    encoder.pack_tokens = True
    seen = []
    encoder.backbone.register_forward_hook(lambda mod, args, kwargs, out: seen.append(tuple(kwargs['input_ids'].shape)),
                                           with_kwargs=True)
    packed = encoder(batch)
    assert seen == [(3, 6)]                  # the 3 present samples, up to the last real token
    valid = padded.mask[..., None]
    torch.testing.assert_close(packed.tokens * valid, padded.tokens * valid, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(packed.pooled[batch['present']], padded.pooled[batch['present']],
                               atol=1e-5, rtol=1e-5)
    assert torch.equal(packed.mask, padded.mask)
    weights = torch.randn_like(padded.tokens) * valid
    grads = [torch.autograd.grad((out.tokens * weights).sum(), encoder.backbone.embeddings.word_embeddings.weight)[0]
             for out in (padded, packed)]
    torch.testing.assert_close(grads[1], grads[0], atol=1e-5, rtol=1e-4)


def test_packed_bert_tower_without_present_samples_runs_the_padded_call():
    """Every parameter still gets a gradient (DDP), as in the padded path."""
    encoder = TextBertEncoder(vocab_size=40, hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32,
                              max_position=16)
    encoder.pack_tokens = True
    batch = dict(_bert_batch(), present=torch.zeros(4, dtype=torch.bool))
    out = encoder(batch)
    assert out.tokens.shape == (4, 9, 16) and not out.mask.any()
    out.pooled.sum().backward()
    assert all(p.grad is not None for p in encoder.backbone.encoder.parameters())


def test_set_token_packing_switches_the_bert_towers_too():
    model = _model()
    switched = set_token_packing(model)
    assert {'backbone.encoders.text', 'backbone.encoders.table', 'backbone.fusion.transformer'} <= set(switched)
    assert model.backbone.encoders['text'].pack_tokens and model.backbone.encoders['table'].pack_tokens


def test_compile_leaves_token_packing_off():
    """Packing's shapes change with every batch; a compiled model keeps the padded path."""
    cfg = dict(type='ScalePretrainer', encoders=tiny_encoder_cfgs(32), objectives=_objectives(),
               fusion=dict(type='ScaleFusion', dim=32, depth=1, num_heads=2), pack_tokens=True, compile=dict())
    model = build_model(cfg, tiny_data_meta())
    assert not any(getattr(m, 'pack_tokens', False) for m in model.modules())
    eager = build_model(cfg, tiny_data_meta(), allow_compile=False)
    assert eager.backbone.fusion.transformer.pack_tokens
