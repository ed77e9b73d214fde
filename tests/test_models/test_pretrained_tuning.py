"""Freezing, last-layer tuning and LoRA of pretrained towers; what their checkpoints hold and how they load."""
from __future__ import annotations

import pytest
import torch

from m5mm.engine.optimizers import build_optimizer
from m5mm.models.encoders import PretrainedImageEncoder, PretrainedTextEncoder

TAIL = dict(dim=16, depth=1, num_heads=2)
OPTIM = dict(optimizer=dict(type='AdamW', lr=1e-2, weight_decay=0.01), pretrained_lr_mult=0.1)


def _tower(tiny_pretrained, family='vit', **kwargs):
    torch.manual_seed(0)
    return PretrainedImageEncoder(pretrained=str(tiny_pretrained / family), **TAIL, **kwargs)


def _batch(present=(True, False, True)):
    torch.manual_seed(1)
    return {'pixels': torch.randn(len(present), 3, 64, 64), 'present': torch.tensor(present)}


def _step(tower, optimizer, batch):
    tower.train()
    out = tower(batch, mask_ratio=0.25)
    (out.pooled.square().mean() + out.tokens.square().mean()).backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=False)


def _optimized(optimizer) -> set:
    return {id(p) for group in optimizer.param_groups for p in group['params']}


def test_a_frozen_tower_never_trains_its_backbone(tiny_pretrained):
    tower = _tower(tiny_pretrained, freeze=True)
    optimizer = build_optimizer(tower, OPTIM)
    backbone = dict(tower.backbone.named_parameters())
    assert not _optimized(optimizer) & {id(p) for p in backbone.values()}  # no optimizer slot
    before = {n: p.detach().clone() for n, p in backbone.items()}
    tower.train()
    assert tower.training and not tower.backbone.training  # eval mode survives model.train()
    feats, _, _ = tower.backbone_features(_batch())
    assert not feats.requires_grad  # the backbone ran under torch.no_grad
    for _ in range(2):
        _step(tower, optimizer, _batch())
    assert all(p.grad is None for p in backbone.values())
    assert all(torch.equal(before[n], p) for n, p in backbone.items())
    assert all(not optimizer.state[p] == {} for p in tower.parameters() if p.requires_grad)


def test_trainable_layers_trains_the_last_blocks_and_the_final_norm(tiny_pretrained):
    tower = _tower(tiny_pretrained, trainable_layers=1)
    trainable = {n for n, p in tower.backbone.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(('layers.1.', 'layernorm.')) for n in trainable)
    assert any(n.startswith('layernorm.') for n in trainable)
    optimizer = build_optimizer(tower, OPTIM)
    lrs = {id(p): group['lr'] for group in optimizer.param_groups for p in group['params']}
    named = dict(tower.named_parameters())
    assert lrs[id(named['backbone.layers.1.mlp.fc1.weight'])] == pytest.approx(1e-3)  # pretrained: 0.1x
    assert lrs[id(named['embed.0.weight'])] == pytest.approx(1e-2)
    _step(tower, optimizer, _batch())
    got_grad = {n for n, p in tower.backbone.named_parameters() if p.grad is not None}
    assert got_grad == trainable


def test_lora_trains_only_the_adapters_and_merging_keeps_the_outputs(tiny_pretrained):
    tower = _tower(tiny_pretrained, lora=dict(r=2, alpha=4, target_modules=['q_proj', 'v_proj']))
    base = {n: p.detach().clone() for n, p in tower.backbone.named_parameters() if 'lora_' not in n}
    adapters = {n: p.detach().clone() for n, p in tower.backbone.named_parameters() if 'lora_' in n}
    assert adapters and all(not p.requires_grad for n, p in tower.backbone.named_parameters() if n in base)
    optimizer = build_optimizer(tower, OPTIM)
    lrs = {id(p): group['lr'] for group in optimizer.param_groups for p in group['params']}
    assert all(lrs[id(p)] == pytest.approx(1e-2) for n, p in tower.backbone.named_parameters() if 'lora_' in n)
    for _ in range(3):
        _step(tower, optimizer, _batch())
    now = dict(tower.backbone.named_parameters())
    assert all(torch.equal(base[n], now[n]) for n in base)
    assert any(not torch.equal(adapters[n], now[n]) for n in adapters if 'lora_B' in n)
    tower.eval()
    batch = _batch()
    before = tower(batch).tokens
    assert tower.merge_lora() == 4
    assert not any('lora_' in n for n, _ in tower.backbone.named_parameters())
    torch.testing.assert_close(tower(batch).tokens, before, rtol=1e-5, atol=1e-5)
    assert any(k.startswith('backbone.') for k in tower.state_dict())  # merged weights are saved in full


def test_frozen_weights_stay_out_of_the_state_dict_and_load_back(tiny_pretrained):
    tower = _tower(tiny_pretrained, freeze=True)
    state = tower.state_dict()
    assert not [k for k in state if k.startswith('backbone.')] and '_extra_state' in state
    fresh = _tower(tiny_pretrained, freeze=True)
    fresh.load_state_dict(state, strict=True)  # the frozen weights come from the source
    tower.eval(), fresh.eval()
    batch = _batch()
    assert torch.equal(tower(batch).tokens, fresh(batch).tokens)


def test_lora_checkpoint_holds_adapters_only(tiny_pretrained):
    tower = _tower(tiny_pretrained, lora=dict(r=2))
    keys = [k for k in tower.state_dict() if k.startswith('backbone.')]
    assert keys and all('lora_' in k for k in keys)


def test_a_checkpoint_of_another_pretrained_model_fails_clearly(tiny_pretrained):
    state = _tower(tiny_pretrained, 'vit', freeze=True).state_dict()
    other = _tower(tiny_pretrained, 'dinov2', freeze=True)
    with pytest.raises(ValueError, match="made from .*vit.*only loads with the same pretrained model"):
        other.load_state_dict({k: v for k, v in state.items() if k == '_extra_state'}, strict=False)


def test_a_checkpoint_with_backbone_weights_overrides_the_source_and_is_saved_again(tiny_pretrained):
    full = _tower(tiny_pretrained, freeze=False)
    with torch.no_grad():
        full.backbone.layernorm.weight.add_(0.5)
    frozen = _tower(tiny_pretrained, freeze=True)
    frozen.load_state_dict(full.state_dict(), strict=True)
    assert torch.equal(frozen.backbone.layernorm.weight, full.backbone.layernorm.weight)
    assert 'backbone.layernorm.weight' in frozen.state_dict()  # no longer the source's: kept in checkpoints


def test_every_trainable_parameter_is_used_when_no_sample_is_present(tiny_pretrained):
    tower = _tower(tiny_pretrained, trainable_layers=2)
    out = tower(_batch(present=(False, False)), mask_ratio=0.25)
    (out.tokens.sum() + out.pooled.sum()).backward()
    unused = [n for n, p in tower.named_parameters() if p.requires_grad and p.grad is None]
    assert not unused  # DDP / DeepSpeed see no unused trainable parameter


def test_parameters_the_output_never_uses_are_frozen(tiny_pretrained):
    tower = _tower(tiny_pretrained, 'clip')  # CLIP's post_layernorm only serves the pooled output
    assert not tower.backbone.post_layernorm.weight.requires_grad
    assert tower.backbone.encoder.layers[0].mlp.fc1.weight.requires_grad


def test_tuning_options_exclude_each_other(tiny_pretrained):
    with pytest.raises(ValueError, match='give one of'):
        _tower(tiny_pretrained, freeze=True, lora=dict(r=2))
    with pytest.raises(ValueError, match='unknown keys'):
        _tower(tiny_pretrained, lora=dict(rank=2))
    with pytest.raises(ValueError, match='trainable_layers=5'):
        _tower(tiny_pretrained, trainable_layers=5)


def test_a_frozen_text_tower_saves_neither_its_weights_nor_the_tied_mlm_decoder(tiny_pretrained):
    from m5mm.models.heads import MaskedTokenHead
    text = PretrainedTextEncoder(pretrained=str(tiny_pretrained / 'bert'), freeze=True)
    head = MaskedTokenHead(dim=32, vocab_size=text.backbone.config.vocab_size, embedding=text.get_word_embeddings())
    assert not [k for k in text.state_dict() if k.startswith('backbone.')]
    assert 'decoder.weight' not in head.state_dict()
    fresh = MaskedTokenHead(dim=32, vocab_size=text.backbone.config.vocab_size,
                            embedding=text.get_word_embeddings())
    fresh.load_state_dict(head.state_dict(), strict=True)
    assert fresh.decoder.weight is text.get_word_embeddings().weight
