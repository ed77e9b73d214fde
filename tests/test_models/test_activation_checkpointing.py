"""Activation checkpointing: the model-level switch and per-part ``grad_checkpointing=True`` give the
losses and gradients of the plain model (dropout included, RNG left where the plain step leaves it)
while storing fewer activations."""
import logging

import pytest
import torch

from m5mm.models.builders import build, build_model
from m5mm.models.activation_checkpointing import set_grad_checkpointing
from m5mm.registry import FUSIONS
from tests.test_models.batch_factory import make_batch, tiny_data_meta, tiny_encoder_cfgs
from tests.test_models.test_fusion_strategies import SPEC, _encoded


def _scale_cfg(**switches) -> dict:
    """Tiny SCALE (depth-2 fusion) with dropout in every encoder and the fusion."""
    encoders = tiny_encoder_cfgs(32)
    for m in ('image', 'video', 'audio'):
        encoders[m]['dropout'] = 0.1    # the BERT towers have dropout 0.1 by default
    fusion = dict(type='ScaleFusion', dim=32, depth=2, num_heads=2, dropout=0.1)
    return dict(type='ScalePretrainer', encoders=encoders, fusion=fusion, **switches)


def _saved_bytes():
    """A saved-tensors hook pair that adds the bytes autograd stores to ``total[0]``."""
    total = [0]

    def pack(tensor):
        total[0] += tensor.numel() * tensor.element_size()
        return tensor
    return total, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t)


def _train_step(model, batch_fn):
    """Losses, gradients, stored activation bytes and the RNG state after one forward/backward."""
    torch.manual_seed(1)
    total, hooks = _saved_bytes()
    with hooks:
        out = batch_fn(model)
        loss = sum(v for k, v in out.items() if k.startswith('loss'))
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return {k: v.detach() for k, v in out.items()}, grads, total[0], torch.get_rng_state()


def _scale_step(checkpointed: bool):
    torch.manual_seed(0)
    model = build_model(_scale_cfg(grad_checkpointing=checkpointed), tiny_data_meta()).train()
    return _train_step(model, lambda m: m(make_batch(4)))


def test_scale_checkpointed_equals_plain():
    out, grads, stored, rng = _scale_step(False)
    out_ck, grads_ck, stored_ck, rng_ck = _scale_step(True)
    assert set(out) == set(out_ck) and any(k.startswith('loss_mlm') for k in out)
    for key in out:
        torch.testing.assert_close(out_ck[key], out[key], rtol=1e-6, atol=1e-7)
    assert set(grads) == set(grads_ck) and len(grads) > 100
    for name in grads:
        torch.testing.assert_close(grads_ck[name], grads[name], rtol=1e-5, atol=1e-7)
    assert torch.equal(rng, rng_ck)       # the recomputation's RNG is restored: exact resume holds
    assert stored_ck < 0.6 * stored       # fewer activations kept


def test_model_switch_reaches_every_stack():
    model = build_model(_scale_cfg(grad_checkpointing=True), tiny_data_meta())
    names = set_grad_checkpointing(model)   # idempotent: names what is on
    assert 'backbone.encoders.text.backbone' in names                        # transformers model
    assert 'backbone.fusion.transformer.blocks.1' in names
    assert any(n.startswith('backbone.encoders.video.frame_encoder.') for n in names)
    assert model.backbone.encoders.text.backbone.is_activation_checkpointing
    assert set_grad_checkpointing(model, False) == names
    assert not model.backbone.encoders.text.backbone.is_activation_checkpointing
    assert not any(b.grad_checkpointing for b in model.backbone.fusion.transformer.blocks)


def _fusion_step(name: str, checkpointed: bool, **kwargs):
    modalities = ('image', 'text', 'table', 'video')
    cfg = dict(type=name, dim=16, num_heads=2, dropout=0.1, grad_checkpointing=checkpointed, **kwargs)
    torch.manual_seed(0)
    fusion = build(cfg, FUSIONS, 'fusion', dict(modalities=list(modalities),
                                                in_dims={m: SPEC[m][1] for m in modalities})).train()

    def forward(module):
        out = module(_encoded(modalities))
        return {'loss': sum((t ** 2).mean() for t in out.tokens.values()) + out.joint.square().mean()}
    return _train_step(fusion, forward)


@pytest.mark.parametrize('name, kwargs', [('CoAttentionFusion', dict(depth=2)),
                                          ('HybridFusion', dict(depth=1, intra_depth=2))])
def test_fusion_checkpointed_equals_plain(name, kwargs):
    out, grads, stored, rng = _fusion_step(name, False, **kwargs)
    out_ck, grads_ck, stored_ck, rng_ck = _fusion_step(name, True, **kwargs)
    torch.testing.assert_close(out_ck['loss'], out['loss'], rtol=1e-6, atol=1e-7)
    assert set(grads) == set(grads_ck)
    for key in grads:
        torch.testing.assert_close(grads_ck[key], grads[key], rtol=1e-5, atol=1e-7)
    assert torch.equal(rng, rng_ck)
    assert stored_ck < stored


def test_no_recompute_outside_training():
    torch.manual_seed(0)
    model = build_model(_scale_cfg(grad_checkpointing=True), tiny_data_meta()).eval()
    total, hooks = _saved_bytes()
    with hooks, torch.no_grad():
        model.extract_features(make_batch(2))
    assert total[0] == 0


def test_nothing_to_checkpoint_warns(caplog):
    fusion = build(dict(type='LateFusion', dim=16, grad_checkpointing=True), FUSIONS, 'fusion',
                   dict(modalities=['image', 'text'], in_dims={'image': 12, 'text': 16}))
    assert fusion is not None
    with caplog.at_level(logging.WARNING, logger='m5mm'):
        assert set_grad_checkpointing(fusion) == []
    assert 'no transformer blocks to checkpoint' in caplog.text
