"""The remedies of issue 16: modality dropout, the importance-weighted joint, non-negative
harmonizer weights and the collapse monitor's spread numbers."""
import itertools

import pytest
import torch
import torch.nn.functional as F

from m5mm.models.backbones.modality_dropout import drop_modalities
from m5mm.models.backbones.collapse_statistics import embedding_spread, modality_spread
from m5mm.registry import HARMONIZERS, MODELS
from tests.test_models.batch_factory import tiny_data_meta, tiny_encoder_cfgs

ORDER = ['image', 'text', 'table', 'video', 'audio']


def _model(neck='FusionJointNeck', **kwargs):
    """A tiny SCALE model; ``joint`` un-normalised, so hand computations compare directly."""
    if neck is not None:
        kwargs['neck'] = dict(type=neck, normalize=False)
    torch.manual_seed(0)
    return MODELS.build(dict(type='ScalePretrainer', encoders=tiny_encoder_cfgs(32), data_meta=tiny_data_meta(),
                             fusion=dict(type='ScaleFusion', dim=32, depth=1, num_heads=2),
                             projection=dict(type='ProjectionHead', out_dim=32), **kwargs))


def test_modality_dropout_keeps_at_least_one_present_modality():
    gen = torch.Generator().manual_seed(0)
    present = torch.rand(400, 5, generator=gen) < 0.8
    present[:5] = False                                                  # samples without any modality stay empty
    inputs = {m: {'present': present[:, k], 'x': torch.randn(400, 3)} for k, m in enumerate(ORDER)}
    out = drop_modalities(inputs, ORDER, 0.7, generator=gen)
    kept = torch.stack([out[m]['present'] for m in ORDER], dim=1)
    assert not (kept & ~present).any()                                   # never turns an absent modality on
    assert torch.equal(kept.any(dim=1), present.any(dim=1))              # >= 1 kept where any was present
    assert 0.2 < kept.sum() / present.sum() < 0.45                       # ~30% survive (plus the rescued)
    assert all(out[m]['x'] is inputs[m]['x'] for m in ORDER)             # the data is not copied
    same = drop_modalities(inputs, ORDER, 0.0)
    assert all(torch.equal(same[m]['present'], inputs[m]['present']) for m in ORDER)
    with pytest.raises(ValueError, match='rate'):
        drop_modalities(inputs, ORDER, 1.0)


def test_modality_dropout_runs_in_training_only(batch):
    model = _model(modality_dropout=0.9)
    model.train()
    torch.manual_seed(1)
    inputs = model.backbone.context(batch).inputs
    dropped = sum(int((batch[m]['present'] & ~inputs[m]['present']).sum()) for m in model.modalities)
    assert dropped > 0
    per_sample = torch.stack([inputs[m]['present'] for m in model.modalities], dim=1).sum(dim=1)
    assert (per_sample >= 1).all()
    out = model(batch)                                                   # trains with dropped modalities
    assert torch.isfinite(sum(v for k, v in out.items() if k.startswith('loss')))
    model.eval()
    inputs = model.backbone.context(batch).inputs
    assert all(torch.equal(inputs[m]['present'], batch[m]['present']) for m in model.modalities)
    reference = _model()
    reference.eval()
    first, second = model.extract_features(batch), reference.extract_features(batch)
    assert torch.allclose(first['joint'], second['joint'])               # off at evaluation: the same model


def test_importance_weighted_joint_equals_a_hand_computation(batch):
    model = _model('ImportanceJointNeck')
    model.eval()
    features = model.extract_features(batch)
    ctx = model.backbone.context(batch)
    fused = ctx.fused.fused
    weights = model.backbone.harmonizer({m: fused[m] for m in model.modalities}, ctx.present).weights
    for b in range(weights.shape[0]):
        idx = [k for k, m in enumerate(model.modalities) if ctx.present[m][b]]
        share = {k: max(sum(float(weights[b, i, k].detach()) for i in idx) / len(idx), 0.0) for k in idx}
        total = sum(share.values())
        expected = sum(share[k] * fused[model.modalities[k]][b] for k in idx) / total
        assert torch.allclose(features['joint'][b], expected, atol=1e-5)
    assert not torch.allclose(features['joint'], _model().extract_features(batch)['joint'])
    with pytest.raises(ValueError, match='harmonizer'):
        MODELS.build(dict(type='MultiModalPretrainer', encoders=tiny_encoder_cfgs(32), data_meta=tiny_data_meta(),
                          fusion=dict(type='ScaleFusion', dim=32, depth=1, num_heads=2),
                          neck=dict(type='ImportanceJointNeck'),
                          objectives=dict(con=dict(type='InterModalityContrastiveObjective'))))


def test_nonnegative_cosine_graph_weights_are_never_negative():
    gen = torch.Generator().manual_seed(0)
    emb = {m: torch.randn(64, 8, generator=gen) for m in ORDER}
    present = {m: torch.rand(64, generator=gen) < 0.8 for m in ORDER}
    plain = HARMONIZERS.build(dict(type='CosineGraphHarmonizer'))(emb, present).weights
    clamped = HARMONIZERS.build(dict(type='CosineGraphHarmonizer', nonnegative=True))(emb, present).weights
    assert (plain < 0).any()                                             # random vectors: negative cosines
    assert (clamped >= 0).all()
    positive = plain > 0                                                 # same direction where the cosine is > 0
    assert (clamped[positive] > 0).all()


def test_spread_equals_a_reference_computation():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(6, 5, generator=gen)
    cos = [float(F.cosine_similarity(x[i], x[j], dim=0)) for i, j in itertools.permutations(range(6), 2)]
    mean_std = sum(float(x[:, d].std()) for d in range(5)) / 5
    stats = embedding_spread(x)
    assert stats['cos'].item() == pytest.approx(sum(cos) / len(cos), abs=1e-6)
    assert stats['std'].item() == pytest.approx(mean_std, abs=1e-6)
    collapsed = embedding_spread(torch.ones(8, 4) + 1e-4 * torch.randn(8, 4, generator=gen))
    assert collapsed['cos'] > 0.999 and collapsed['std'] < 1e-3
    present = {'a': torch.tensor([True, False, True, True, True, True]), 'b': torch.tensor([True] + [False] * 5)}
    out = modality_spread({'a': x, 'b': x}, present)
    assert set(out) == {'spread_cos_a', 'spread_std_a'}                  # b: one sample, no spread
    assert out['spread_cos_a'] == pytest.approx(embedding_spread(x[present['a']])['cos'].item())


def test_the_model_returns_the_spread_in_training_mode_when_asked(batch):
    model = _model()
    model.train()
    assert not any(k.startswith('spread_') for k in model(batch))         # off by default: outputs as recorded
    model.monitor_spread = True
    torch.manual_seed(5)
    out = model(batch)
    torch.manual_seed(5)                                                 # the same masking: the same embeddings
    ctx = model.backbone.context(batch, model.objectives.values())
    for m in model.modalities:
        rows = ctx.embeddings[m][batch[m]['present'].bool()]
        if rows.shape[0] >= 2:
            assert out[f'spread_cos_{m}'].item() == pytest.approx(embedding_spread(rows)['cos'].item(), abs=1e-5)
    model.eval()
    assert not any(k.startswith('spread_') for k in model(batch))


def test_normalize_joint_gives_unit_vectors_in_the_direction_of_the_joint(batch):
    plain = _model()
    torch.manual_seed(0)
    unit = MODELS.build(dict(type='ScalePretrainer', encoders=tiny_encoder_cfgs(32), data_meta=tiny_data_meta(),
                             fusion=dict(type='ScaleFusion', dim=32, depth=1, num_heads=2),
                             projection=dict(type='ProjectionHead', out_dim=32)))   # the default: normalised
    plain.eval(), unit.eval()
    joint, normed = plain.extract_features(batch)['joint'], unit.extract_features(batch)['joint']
    assert torch.allclose(normed.norm(dim=-1), torch.ones(normed.shape[0]), atol=1e-5)
    assert torch.allclose(normed, F.normalize(joint, dim=-1), atol=1e-5)


def test_centred_joint_tracks_the_fused_mean_in_training_and_subtracts_it(batch):
    model = _model('CentredJointNeck')
    centre = model.backbone.neck.centre
    assert torch.equal(centre.mean, torch.zeros(5, 32)) and set(model.state_dict()) >= {'backbone.neck.centre.mean'}
    model.train()
    torch.manual_seed(3)
    model(batch)
    torch.manual_seed(3)                                                 # the step's (masked) fused vectors
    ctx = model.backbone.context(batch, model.objectives.values())
    first = {m: ctx.fused.fused[m][batch[m]['present'].bool()].mean(dim=0) for m in model.modalities}
    assert all(torch.allclose(centre.mean[k], first[m], atol=1e-5) for k, m in enumerate(model.modalities))
    model(batch)                                                         # second step: 0.99 old + 0.01 new
    torch.manual_seed(3)
    model.eval()
    before = centre.mean.clone()
    features = model.extract_features(batch)                             # eval never updates
    assert torch.equal(centre.mean, before)
    fused = features['fused']
    for b in range(4):
        rows = [fused[m][b] - centre.mean[k] for k, m in enumerate(model.modalities) if batch[m]['present'][b]]
        assert torch.allclose(features['joint'][b], sum(rows) / len(rows), atol=1e-5)


def test_the_0_2_joint_arguments_build_the_neck_they_stand_for_and_old_checkpoints_load(batch):
    """``joint=`` / ``normalize_joint=`` (m5mm 0.2) map to the neck with a FutureWarning; a 0.2 state dict
    (``backbone.centre.*``) loads into ``backbone.neck.centre.*``."""
    from m5mm.models.necks import CentredJointNeck, ImportanceJointNeck
    with pytest.warns(FutureWarning, match="neck=.*CentredJointNeck.*'normalize': False"):
        old = _model(neck=None, joint='centred', normalize_joint=False)
    assert isinstance(old.backbone.neck, CentredJointNeck) and not old.backbone.neck.normalize
    with pytest.warns(FutureWarning, match='ImportanceJointNeck'):
        assert isinstance(_model(neck=None, joint='importance').backbone.neck, ImportanceJointNeck)
    with pytest.raises(ValueError, match='only'):
        _model(joint='centred')
    state = {k.replace('backbone.neck.centre.', 'backbone.centre.'): v + 1 for k, v in old.state_dict().items()}
    old.load_state_dict(state)
    assert torch.equal(old.backbone.neck.centre.mean, torch.ones(5, 32))
