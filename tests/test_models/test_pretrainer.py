"""The pretrainers (a backbone + objectives) with the real tiny encoders."""
import pytest
import torch

from m5mm.engine.optimizers import param_groups
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


def _objectives():
    objectives = {'con': dict(type='InterModalityContrastiveObjective'),
                  'mlm': dict(type='MaskedLanguageModelObjective', modality='text', mask_ratio=0.3),
                  'mem': dict(type='MaskedEntityModelObjective', modality='table', mask_ratio=0.3, share_head='mlm')}
    for m, width in TARGET_DIMS.items():
        objectives[f'mfm_{m}'] = dict(type='MaskedFeatureRegressionObjective', modality=m, head=dict(out_dim=width))
    return objectives


def _model(**kwargs):
    torch.manual_seed(0)
    cfg = dict(type='ScalePretrainer', encoders=tiny_encoder_cfgs(32), objectives=_objectives(),
               fusion=dict(type='ScaleFusion', dim=32, depth=1, num_heads=2), data_meta=tiny_data_meta())
    cfg.update(kwargs)
    return MODELS.build(cfg)


def _total(out):
    return sum(v for k, v in out.items() if k.startswith('loss'))


def test_forward_outputs(batch):
    model = _model()
    encoders = model.backbone.encoders
    assert encoders['table'].backbone is encoders['text'].backbone
    assert model.backbone.encoder_sharing == {'table': 'text'}
    assert model.objectives['mlm'].head is model.objectives['mem'].head       # one LM head (share_head), tied
    assert model.objectives['mlm'].head.decoder.weight is encoders['text'].get_word_embeddings().weight
    out = model(batch)
    expected = {'loss_con', 'loss_mlm', 'acc_mlm', 'loss_mem', 'acc_mem', 'loss_mfm_image', 'loss_mfm_video',
                'loss_mfm_audio', 'acc_con_image_text', 'con_video_audio', 'mask_weight_text'}
    assert expected <= set(out)
    assert list(out)[:5] == [f'weight_{m}' for m in model.modalities]      # the harmonizer's importance first
    assert all(torch.isfinite(v).all() for v in out.values())
    assert out['loss_con'] > 0 and out['loss_mfm_image'] > 0


def test_the_forward_context_computes_each_part_once(batch):
    model = _model(objectives={**_objectives(), 'match': dict(type='MatchingObjective')})
    calls = {}
    for name, module in [*model.backbone.encoders.items(), ('fusion', model.backbone.fusion),
                         ('harmonizer', model.backbone.harmonizer)]:
        module.register_forward_hook(lambda mod, args, out, name=name: calls.update({name: calls.get(name, 0) + 1}))
    model(batch)
    assert {m: calls[m] for m in model.modalities} == {m: 1 for m in model.modalities}
    assert calls['fusion'] == 2          # the masked pass, and matching's shuffled negatives
    assert calls['harmonizer'] == 2      # on the pooled embeddings (contrastive), on the fused vectors (masked)


def test_every_parameter_gets_a_gradient_with_an_absent_modality():
    model = _model(harmonizer=dict(type='LearnedScoreHarmonizer'),
                   projection=dict(type='ProjectionHead', out_dim=16))
    batch = make_batch(4, absent={'audio': [0, 1, 2, 3], 'image': [1], 'table': [2]}, seed=1)
    torch.manual_seed(0)
    out = model(batch)
    _total(out).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert not no_grad
    for name in ('backbone.encoders.image.patch_embed.weight', 'backbone.fusion.cls_token',
                 'backbone.harmonizer.scores', 'backbone.encoders.text.backbone.embeddings.word_embeddings.weight'):
        assert dict(model.named_parameters())[name].grad.abs().sum() > 0, name
    audio = [p.grad for n, p in model.named_parameters() if n.startswith('backbone.encoders.audio.')]
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
    assert set(model.backbone.extract_features(batch)) == set(feats)         # the backbone alone gives them


def test_options_and_vocab_from_meta(batch):
    cfgs = tiny_encoder_cfgs(32, modalities=('image', 'text', 'table'))
    for m in ('text', 'table'):
        del cfgs[m]['vocab_size']
    model = MODELS.build(dict(
        type='MultiModalPretrainer', encoders=cfgs, share_text_table=False,
        fusion=dict(type='ScaleFusion', dim=24, depth=1, num_heads=2, modality_embed=True, joint='cls'),
        harmonizer=dict(type='UniformHarmonizer'),
        objectives=dict(con=dict(type='InterModalityContrastiveObjective', learnable_temperature=True, unmasked=True),
                        mlm=dict(type='MaskedLanguageModelObjective', modality='text', weight_mode='loss',
                                 loss_weight=0.5)),
        data_meta=tiny_data_meta()))
    encoders = model.backbone.encoders
    assert encoders['text'].backbone.config.vocab_size == 100
    assert encoders['table'].backbone is not encoders['text'].backbone and not model.backbone.encoder_sharing
    sub = {k: batch[k] for k in ('image', 'text', 'table', 'meta')}
    out = model(sub)
    assert {'loss_con', 'loss_mlm', 'con_temperature', 'weight_image'} <= set(out)
    assert out['weight_text'] == 1.0
    with pytest.raises(ValueError, match='mask_id'):   # MLM without the tokenizer meta
        MODELS.build(dict(type='ScalePretrainer', encoders=tiny_encoder_cfgs(32, modalities=('text',)),
                          fusion=dict(type='ScaleFusion', dim=24, depth=1, num_heads=2),
                          objectives=dict(mlm=dict(type='MaskedLanguageModelObjective', modality='text'))))


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


@pytest.mark.parametrize('kind', ['contrastive_only', 'masked_only', 'matching_only'])
def test_parts_no_objective_reads_still_get_gradients(batch, kind):
    objectives = {'contrastive_only': {'con': dict(type='InterModalityContrastiveObjective')},
                  'masked_only': {'mlm': dict(type='MaskedLanguageModelObjective', modality='text')},
                  'matching_only': {'match': dict(type='MatchingObjective')}}[kind]
    model = _model(objectives=objectives, harmonizer=dict(type='LearnedScoreHarmonizer'),
                   projection=dict(type='ProjectionHead', out_dim=16, activation='relu'))
    torch.manual_seed(0)
    out = model(batch)
    _total(out).backward()
    assert not [n for n, p in model.named_parameters() if p.grad is None]


def test_pretrained_weights_get_the_lower_learning_rate():
    model = _model()
    model.backbone.encoders['text'].pretrained_prefixes = ['backbone.']
    groups = param_groups(model, lr=1.0, weight_decay=0.0, pretrained_lr_mult=0.1)
    slow = [n for g in groups if g['lr'] == pytest.approx(0.1) for n in g['names']]
    assert slow and all(n.startswith('backbone.encoders.text.backbone.') for n in slow)


# ---------------------------------------------------------------- objectives follow the modalities


def test_scale_derives_each_modality_pretext_objective_from_its_spec(batch):
    model = _model(objectives=None)
    assert list(model.objectives) == ['con', 'mfm_image', 'mlm', 'mem', 'mfm_video', 'mfm_audio']
    assert type(model.objectives['mlm']).__name__ == 'MaskedLanguageModelObjective'
    assert type(model.objectives['mem']).__name__ == 'MaskedEntityModelObjective'
    assert model.objectives['mem'].head is model.objectives['mlm'].head      # text and table share one BERT
    assert model.objectives['mfm_video'].modality == 'video'
    assert torch.isfinite(_total(model(batch)))


def test_modalities_drop_the_encoders_and_objectives_of_the_others(batch):
    objectives = {**_objectives(), 'match': dict(type='MatchingObjective')}
    model = _model(type='MultiModalPretrainer', objectives=objectives, modalities=['text', 'image'])
    assert model.modalities == ['image', 'text']                     # the encoders' order
    assert list(model.backbone.encoders) == ['image', 'text']
    assert list(model.objectives) == ['con', 'mlm', 'mfm_image', 'match']
    assert model.dropped_objectives == ['mem', 'mfm_video', 'mfm_audio']
    assert {'loss_con', 'loss_mlm', 'loss_match'} <= set(model(batch))
    single = _model(type='MultiModalPretrainer', objectives=objectives, modalities=['text'])
    assert list(single.objectives) == ['mlm']                        # contrastive and matching need two
    scale = _model(objectives=None, modalities=['table'])
    assert list(scale.objectives) == ['mem'] and 'mlm' not in scale.objectives
    with pytest.raises(KeyError, match='no encoder'):
        _model(modalities=['text', 'pointcloud'])
    with pytest.raises(ValueError, match='no objective applies'):
        _model(type='MultiModalPretrainer', objectives=dict(mem=objectives['mem']), modalities=['image'])


def test_objective_configuration_errors_are_clear():
    with pytest.raises(KeyError, match="share_head='mlm'"):
        _model(objectives=dict(mem=dict(type='MaskedEntityModelObjective', modality='table', share_head='mlm')))
    with pytest.raises(ValueError, match='both mask'):
        _model(objectives=dict(a=dict(type='MaskedLanguageModelObjective', modality='text'),
                               b=dict(type='MaskedLanguageModelObjective', modality='text')))
    with pytest.raises(ValueError, match='not tied'):
        _model(share_text_table=False, objectives=dict(
            mlm=dict(type='MaskedLanguageModelObjective', modality='text'),
            mem=dict(type='MaskedEntityModelObjective', modality='table', share_head='mlm')))
    with pytest.raises(ValueError, match='needs `objectives`'):
        _model(type='MultiModalPretrainer', objectives=None)


def test_an_objective_may_share_the_head_of_one_listed_after_it():
    """A saved config.py lists the objectives sorted by name ('mem' before 'mlm'); the model still builds,
    with the one head, and keeps the config's order."""
    objectives = dict(sorted(_objectives().items()))
    assert list(objectives).index('mem') < list(objectives).index('mlm')
    model = _model(objectives=objectives)
    assert list(model.objectives) == list(objectives)
    assert model.objectives['mlm'].head is model.objectives['mem'].head
    with pytest.raises(ValueError, match='cycle'):
        _model(objectives=dict(
            mem=dict(type='MaskedEntityModelObjective', modality='table', share_head='mlm'),
            mlm=dict(type='MaskedLanguageModelObjective', modality='text', share_head='mem')))
