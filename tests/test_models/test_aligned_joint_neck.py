"""AlignedJointNeck: the product vector as the mean of the present modalities' unit contrastive embeddings."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from m5mm.models.necks import AlignedJointNeck
from m5mm.registry import MODELS
from tests.test_models.batch_factory import tiny_data_meta, tiny_encoder_cfgs


def _model(**neck):
    torch.manual_seed(0)
    return MODELS.build(dict(type='ScalePretrainer', encoders=tiny_encoder_cfgs(32), data_meta=tiny_data_meta(),
                             fusion=dict(type='ScaleFusion', dim=32, depth=1, num_heads=2),
                             projection=dict(type='ProjectionHead', out_dim=32),
                             neck=dict(type='AlignedJointNeck', normalize=False, **neck)))


def test_joint_is_the_mean_of_the_present_unit_embeddings(batch):
    model = _model()
    model.eval()
    joint = model.extract_features(batch)['joint']
    ctx = model.backbone.context(batch)
    for b in range(joint.shape[0]):
        units = [F.normalize(ctx.embeddings[m][b], dim=-1) for m in model.modalities if ctx.present[m][b]]
        assert torch.allclose(joint[b], sum(units) / len(units), atol=1e-5)
    assert not all(bool(ctx.present[m].all()) for m in model.modalities)   # the batch has absent modalities


def test_a_product_with_aligned_modalities_has_one_vector_whatever_it_has():
    neck = AlignedJointNeck(modalities=['text', 'image', 'table'])
    z = torch.randn(1, 8)
    ctx = SimpleNamespace(clean_embeddings={'text': 2 * z.repeat(3, 1), 'image': z.repeat(3, 1),
                                            'table': 5 * z.repeat(3, 1)},
                          present={'text': torch.tensor([True, True, False]),
                                   'image': torch.tensor([False, True, True]),
                                   'table': torch.tensor([False, True, False])})
    joint = neck(ctx)                                                  # text only, all three, image only
    assert torch.allclose(joint, F.normalize(z, dim=-1).expand(3, -1), atol=1e-6)
    assert torch.allclose(joint.norm(dim=-1), torch.ones(3))


def test_importance_weights_follow_the_harmonizer_on_the_embeddings(batch):
    model = _model(importance=True)
    model.eval()
    joint = model.extract_features(batch)['joint']
    ctx = model.backbone.context(batch)
    present = torch.stack([ctx.present[m].bool() for m in model.modalities], dim=1)
    weights = model.backbone.harmonizer({m: ctx.embeddings[m] for m in model.modalities}, ctx.present).weights
    for b in range(joint.shape[0]):
        idx = [k for k in range(len(model.modalities)) if present[b, k]]
        share = {k: max(sum(float(weights[b, i, k].detach()) for i in idx) / len(idx), 0.0) for k in idx}
        units = {k: F.normalize(ctx.embeddings[model.modalities[k]][b], dim=-1) for k in idx}
        expected = sum(share[k] * units[k] for k in idx) / sum(share.values())
        assert torch.allclose(joint[b], expected, atol=1e-5)
    assert not torch.allclose(joint, _model().extract_features(batch)['joint'], atol=1e-4)


def test_importance_needs_a_harmonizer_and_subset_objectives_need_a_fusion_neck():
    with pytest.raises(ValueError, match='harmonizer'):
        MODELS.build(dict(type='MultiModalPretrainer', encoders=tiny_encoder_cfgs(32), data_meta=tiny_data_meta(),
                          fusion=dict(type='ScaleFusion', dim=32, depth=1, num_heads=2),
                          projection=dict(type='ProjectionHead', out_dim=32),
                          neck=dict(type='AlignedJointNeck', importance=True),
                          objectives=dict(con=dict(type='InterModalityContrastiveObjective'))))
    with pytest.raises(TypeError, match='SubsetConsistencyObjective'):
        AlignedJointNeck(modalities=['text']).of_fusion(None, {})


def test_the_model_trains_and_its_joint_gets_gradients_through_the_projections(batch):
    model = _model()
    model.train()
    out = model(batch)
    loss = sum(v for k, v in out.items() if k.startswith('loss'))
    loss.backward()
    assert all(p.grad is not None for p in model.backbone.projections.parameters())
    model.eval()
    features = model.extract_features(batch)
    assert features['joint'].shape == (4, 32)


def test_centre_tracks_each_modality_mean_unit_vector_in_training_and_removes_it(batch):
    model = _model(centre=True)
    model.train()
    model(batch)                                                       # the first update takes the batch mean
    ctx = model.backbone.context(batch)
    neck = model.backbone.neck
    for k, m in enumerate(model.modalities):
        rows = F.normalize(ctx.embeddings[m][ctx.present[m]], dim=-1)
        if rows.shape[0]:
            assert neck.centre.seen[k] == 1
    model.eval()
    joint = model.extract_features(batch)['joint']
    ctx = model.backbone.context(batch)
    for b in range(joint.shape[0]):
        units = [F.normalize(F.normalize(ctx.embeddings[m][b], dim=-1) - neck.centre.mean[k], dim=-1)
                 for k, m in enumerate(model.modalities) if ctx.present[m][b]]
        assert torch.allclose(joint[b], sum(units) / len(units), atol=1e-5)
    assert neck.centre.mean.abs().sum() > 0
    state = model.state_dict()
    assert 'backbone.neck.centre.mean' in state and 'backbone.neck.centre.seen' in state


def test_text_mean_pooling_is_the_masked_mean_of_the_real_tokens():
    from m5mm.models.encoders import TextBertEncoder
    torch.manual_seed(0)
    enc = TextBertEncoder(vocab_size=50, hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32,
                          max_position=16, pool='mean')
    ids = torch.randint(1, 50, (2, 6))
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    out = enc({'input_ids': ids, 'attention_mask': mask, 'present': torch.ones(2, dtype=torch.bool)})
    assert torch.allclose(out.pooled[0], out.tokens[0, :3].mean(0), atol=1e-6)
    assert torch.allclose(out.pooled[1], out.tokens[1].mean(0), atol=1e-6)
    with pytest.raises(ValueError, match='pool'):
        TextBertEncoder(vocab_size=50, hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32, pool='max')


def test_completion_fits_the_ridge_regression_and_fills_in_absent_modalities():
    from m5mm.models.necks.modality_completion import ModalityCompletion
    torch.manual_seed(0)
    x_text = torch.randn(64, 6)
    mixing = torch.randn(6, 6)
    x_image = x_text @ mixing.t()                                     # image = mixing @ text, exactly
    units = torch.stack([x_text, x_image], dim=1)                      # (B, 2, D)
    present = torch.ones(64, 2, dtype=torch.bool)
    completion = ModalityCompletion(modalities=['text', 'image'], dim=6, momentum=0.0, ridge=1e-6)
    completion.update(units, present)
    expected = torch.linalg.solve(x_text.t() @ x_text / 64 + 1e-6 * torch.eye(6), (x_image.t() @ x_text / 64).t()).t()
    assert torch.allclose(completion.weight[0, 1], expected, atol=1e-4)
    assert torch.allclose(completion.weight[0, 1], mixing, atol=1e-3)  # recovers the map
    query = torch.stack([torch.randn(3, 6), torch.zeros(3, 6)], dim=1)
    have = torch.tensor([[True, False]] * 3)
    filled = completion(query, have)
    assert torch.allclose(filled[:, 0], query[:, 0])                   # present rows unchanged
    assert torch.allclose(filled[:, 1], query[:, 0] @ mixing.t(), atol=1e-3)
    nothing = completion(query, torch.zeros(3, 2, dtype=torch.bool))
    assert torch.all(nothing == 0)


def test_complete_gives_a_partial_record_the_vector_its_modalities_imply(batch):
    model = _model(centre=True, complete=True)
    model.train()
    model(batch)
    model.eval()
    neck = model.backbone.neck
    assert neck.completion.seen.sum() > 0 and 'backbone.neck.completion.weight' in model.state_dict()
    joint = model.extract_features(batch)['joint']
    ctx = model.backbone.context(batch)
    stacked = neck._stacked(ctx.embeddings)
    present = neck._present(ctx)
    filled = neck.completion(stacked, present)
    for b in range(joint.shape[0]):
        if present[b].any():
            assert torch.allclose(joint[b], filled[b].mean(dim=0), atol=1e-5)   # every modality, equal weight
    assert (~present).any()                                             # the batch has absent modalities
