"""The SCALE pretrainer with the real tiny encoders."""
import pytest
import torch

from m5mm.registry import ENCODERS, MODELS
from tests.test_models.batch_factory import make_batch, tiny_data_meta, tiny_encoder_cfgs

CONTINUOUS = ('image', 'video', 'audio')


def _target_dims():
    """Regression target widths F of the tiny continuous encoders (read off one forward pass)."""
    batch, cfgs = make_batch(2, absent={}), tiny_encoder_cfgs(32)
    dims = {}
    for m in CONTINUOUS:
        encoder = ENCODERS.build(cfgs[m])
        dims[m] = getattr(encoder, 'target_dim', None) or encoder(batch[m], mask_ratio=0.5).targets.shape[-1]
    return dims


TARGET_DIMS = _target_dims()


def _losses():
    losses = {'con': dict(type='InterModalityContrastiveLoss'),
              'mlm': dict(type='MaskedLanguageModelLoss', modality='text', mask_ratio=0.3),
              'mem': dict(type='MaskedEntityModelLoss', modality='table', mask_ratio=0.3)}
    for m, width in TARGET_DIMS.items():
        losses[f'mfm_{m}'] = dict(type='MaskedFeatureRegressionLoss', modality=m, head=dict(out_dim=width))
    return losses


def _model(**kwargs):
    torch.manual_seed(0)
    cfg = dict(type='ScalePretrainer', encoders=tiny_encoder_cfgs(32), losses=_losses(),
               fusion=dict(type='ScaleFusion', dim=32, depth=1, num_heads=2), data_meta=tiny_data_meta())
    cfg.update(kwargs)
    return MODELS.build(cfg)


def _total(out):
    return sum(v for k, v in out.items() if k.startswith('loss'))


def test_forward_outputs(batch):
    model = _model()
    assert model.encoders['table'].backbone is model.encoders['text'].backbone
    assert model.heads['mlm'] is model.heads['mem']                       # one LM head, tied
    assert model.heads['mlm'].decoder.weight is model.encoders['text'].get_word_embeddings().weight
    out = model(batch)
    expected = {'loss_con', 'loss_mlm', 'acc_mlm', 'loss_mem', 'acc_mem', 'loss_mfm_image', 'loss_mfm_video',
                'loss_mfm_audio', 'acc_con_image_text', 'con_video_audio'}
    assert expected <= set(out)
    assert {f'weight_{m}' for m in model.modalities} <= set(out)
    assert all(torch.isfinite(v).all() for v in out.values())
    assert out['loss_con'] > 0 and out['loss_mfm_image'] > 0


def test_every_parameter_gets_a_gradient_with_an_absent_modality():
    model = _model(harmonizer=dict(type='LearnedScoreHarmonizer'),
                   projection=dict(type='ProjectionHead', out_dim=16))
    batch = make_batch(4, absent={'audio': [0, 1, 2, 3], 'image': [1], 'table': [2]}, seed=1)
    torch.manual_seed(0)
    out = model(batch)
    _total(out).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert not no_grad
    for name in ('encoders.image.patch_embed.weight', 'fusion.cls_token', 'harmonizer.scores',
                 'encoders.text.backbone.embeddings.word_embeddings.weight'):
        assert dict(model.named_parameters())[name].grad.abs().sum() > 0, name
    audio = [p.grad for n, p in model.named_parameters() if n.startswith('encoders.audio.')]
    assert all(torch.all(g == 0) for g in audio)           # fully absent: in the graph, no signal


def test_absent_data_changes_nothing(batch):
    model = _model()
    torch.manual_seed(3)
    out = model(batch)
    changed = {m: dict(v) if m != 'meta' else v for m, v in batch.items()}
    changed['audio']['mel'] = changed['audio']['mel'].clone()
    changed['audio']['mel'][[0, 2]] = torch.randn_like(changed['audio']['mel'][[0, 2]]) * 5   # absent audio
    changed['image']['pixels'] = changed['image']['pixels'].clone()
    changed['image']['pixels'][3] = 7.0                                                      # absent image
    torch.manual_seed(3)
    again = model(changed)
    for key, value in out.items():
        torch.testing.assert_close(again[key], value, msg=key)


def test_missing_modality_in_batch_is_a_clear_error(batch):
    model = _model()
    del batch['video']
    with pytest.raises(KeyError, match="modalities \\['video'\\]"):
        model(batch)


def test_extract_features(batch):
    model = _model().eval()
    feats = model.extract_features(batch)
    again = model.extract_features(batch)
    assert feats['joint'].shape == (4, 32)
    assert set(feats['fused']) == set(feats['pooled']) == set(feats['present']) == set(model.modalities)
    torch.testing.assert_close(feats['joint'], again['joint'])               # no masking: deterministic
    assert torch.all(feats['fused']['audio'][[0, 2]] == 0)
    assert feats['present']['audio'].tolist() == [False, True, False, True]


def test_options_and_vocab_from_meta(batch):
    cfgs = tiny_encoder_cfgs(32, modalities=('image', 'text', 'table'))
    for m in ('text', 'table'):
        del cfgs[m]['vocab_size']
    model = MODELS.build(dict(
        type='MultiModalPretrainer', encoders=cfgs, share_text_table=False, contrastive_on_unmasked=True,
        fusion=dict(type='ScaleFusion', dim=24, depth=1, num_heads=2, modality_embed=True, joint='cls'),
        harmonizer=dict(type='UniformHarmonizer'),
        losses=dict(con=dict(type='InterModalityContrastiveLoss', learnable_temperature=True),
                    mlm=dict(type='MaskedLanguageModelLoss', weight_mode='loss', loss_weight=0.5)),
        data_meta=tiny_data_meta()))
    assert model.encoders['text'].backbone.config.vocab_size == 100
    assert model.encoders['table'].backbone is not model.encoders['text'].backbone
    sub = {k: batch[k] for k in ('image', 'text', 'table', 'meta')}
    out = model(sub)
    assert {'loss_con', 'loss_mlm', 'con_temperature', 'weight_image'} <= set(out)
    assert out['weight_text'] == 1.0
    with pytest.raises(ValueError, match='mask_id'):   # MLM without the tokenizer meta
        MODELS.build(dict(type='ScalePretrainer', encoders=tiny_encoder_cfgs(32, modalities=('text',)),
                          fusion=dict(type='ScaleFusion', dim=24, depth=1, num_heads=2),
                          losses=dict(mlm=dict(type='MaskedLanguageModelLoss'))))


def test_a_few_steps_lower_the_loss():
    model = _model()
    batch = make_batch(4, seed=2)
    optim = torch.optim.AdamW(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(8):
        torch.manual_seed(0)   # the same masks every step
        loss = _total(model(batch))
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    assert losses[-1] < 0.85 * losses[0], losses


@pytest.mark.parametrize('kind', ['contrastive_only', 'masked_only'])
def test_parts_no_loss_reads_still_get_gradients(batch, kind):
    losses = {'con': dict(type='InterModalityContrastiveLoss')} if kind == 'contrastive_only' else \
        {'mlm': dict(type='MaskedLanguageModelLoss', modality='text')}
    model = _model(losses=losses, projection=dict(type='ProjectionHead', out_dim=16, activation='relu'))
    torch.manual_seed(0)
    out = model(batch)
    _total(out).backward()
    assert not [n for n, p in model.named_parameters() if p.grad is None]


def test_pretrained_prefixes_collects_the_encoders():
    model = _model()
    model.encoders['text'].pretrained_prefixes = ['backbone.']
    assert model.pretrained_prefixes == ['encoders.text.backbone.']
