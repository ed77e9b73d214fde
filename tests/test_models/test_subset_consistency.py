"""SubsetConsistencyObjective: the joint vector of a random modality subset against the full record's."""
import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from m5mm.evaluation.modality_mask import drop_modalities
from m5mm.models.objectives import SubsetConsistencyObjective, default_objectives
from m5mm.registry import MODELS
from tests.test_models.batch_factory import tiny_data_meta, tiny_encoder_cfgs


def _model(neck='FusionJointNeck', **kwargs):
    torch.manual_seed(0)
    kwargs['neck'] = dict(type=neck, normalize=False)
    objectives = dict(default_objectives(['image', 'text', 'table', 'video', 'audio'], {'table': 'text'}),
                      subset=dict(type='SubsetConsistencyObjective', temperature=0.1))
    return MODELS.build(dict(type='ScalePretrainer', encoders=tiny_encoder_cfgs(32), data_meta=tiny_data_meta(),
                             fusion=dict(type='ScaleFusion', dim=32, depth=1, num_heads=2), objectives=objectives,
                             projection=dict(type='ProjectionHead', out_dim=32), **kwargs))


def test_compute_equals_a_hand_infonce():
    objective = SubsetConsistencyObjective(temperature=1.0)
    full = torch.tensor([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    part = torch.tensor([[2.0, 0.0], [1.0, 1.0], [1.0, 0.0]])
    out = objective.compute(full, part, torch.tensor([True, True, False]))   # the third sample is left out
    c = 1 / math.sqrt(2)
    rows = -math.log(math.e / (math.e + math.exp(c))) - math.log(math.exp(c) / (1 + math.exp(c)))
    cols = -math.log(math.e / (math.e + 1)) + math.log(2)
    assert float(out['loss_subset']) == pytest.approx(0.5 * (rows + cols) / 2, rel=1e-5)
    # full->part: both rows hit; part->full: column 1 ties (argmax picks 0): a miss
    assert float(out['acc_subset']) == pytest.approx(0.5 * (1.0 + 0.5))
    lonely = objective.compute(full.requires_grad_(), part, torch.tensor([True, False, False]))
    assert float(lonely['loss_subset']) == 0.0   # a plain 0: the model ties what no loss reached
    with pytest.raises(ValueError, match='drop_rate'):
        SubsetConsistencyObjective(drop_rate=1.0)


def test_subset_joint_is_the_joint_of_the_record_without_those_modalities(batch):
    """The encoders run once: re-running only the fusion on the changed ``present`` flags gives the same
    ``joint`` as encoding the batch with those modalities dropped."""
    model = _model('CentredJointNeck')
    model.eval()
    keep = ['text', 'image']
    ctx = model.backbone.context(batch)
    part_present = {m: ctx.present[m] & (m in keep) for m in model.modalities}
    encoded = {m: replace(ctx.encoded[m], present=part_present[m]) for m in model.modalities}
    part = model.backbone.neck.of_fusion(model.backbone.fuse(encoded), part_present)
    expected = model.extract_features(drop_modalities(batch, keep=keep))['joint']
    assert torch.allclose(part, expected, atol=1e-5)
    full = model.backbone.neck.of_fusion(ctx.fused, ctx.present)
    assert torch.allclose(full, model.extract_features(batch)['joint'], atol=1e-5)


def test_training_with_the_subset_term_reaches_the_fusion(batch):
    model = _model()
    model.train()
    torch.manual_seed(3)
    out = model(batch)
    assert 'loss_subset' in out and torch.isfinite(out['loss_subset']) and float(out['loss_subset'].detach()) > 0
    out['loss_subset'].backward()
    grads = [p.grad for p in model.backbone.fusion.parameters() if p.grad is not None]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)
    text_only = MODELS.build(dict(type='ScalePretrainer', encoders=tiny_encoder_cfgs(32, modalities=['text']),
                                  data_meta=tiny_data_meta(['text']),
                                  fusion=dict(type='ScaleFusion', dim=32, depth=1, num_heads=2),
                                  objectives=dict(mlm=dict(type='MaskedLanguageModelObjective', modality='text'),
                                                  subset=dict(type='SubsetConsistencyObjective'))))
    assert text_only.dropped_objectives == ['subset']                     # one modality: nothing to subset


def _aligned_model(**neck):
    torch.manual_seed(0)
    objectives = dict(default_objectives(['image', 'text', 'table', 'video', 'audio'], {'table': 'text'}),
                      subset=dict(type='SubsetConsistencyObjective', temperature=0.1))
    return MODELS.build(dict(type='ScalePretrainer', encoders=tiny_encoder_cfgs(32), data_meta=tiny_data_meta(),
                             fusion=dict(type='ScaleFusion', dim=32, depth=1, num_heads=2), objectives=objectives,
                             projection=dict(type='ProjectionHead', out_dim=32),
                             neck=dict(type='AlignedJointNeck', normalize=False, **neck)))


def _fitted(model, batch):
    """The model after one training step's running statistics (centre, completion), in eval mode."""
    model.train()
    with torch.no_grad():
        model.backbone.neck.update(model.backbone.context(batch))
    return model.eval()


def test_aligned_subset_joint_is_the_joint_of_the_record_without_those_modalities(batch):
    """With AlignedJointNeck the subset's ``joint`` is the neck's combination over the smaller presence
    mask (centred, harmonizer-weighted, completed) of the step's embeddings: the product vector of the
    record encoded with only those modalities."""
    model = _fitted(_aligned_model(centre=True, complete=True, importance=True, width=32), batch)
    neck = model.backbone.neck
    assert float(neck.completion.weight.abs().sum()) > 0                  # the completion predicts something
    for keep in (['text', 'image'], ['text'], ['image', 'table', 'audio']):
        ctx = model.backbone.context(batch)
        part_present = {m: ctx.present[m] & (m in keep) for m in model.modalities}
        part = neck.of_subset(ctx, part_present)
        expected = model.extract_features(drop_modalities(batch, keep=keep))['joint']
        has = torch.stack([part_present[m] for m in model.modalities], dim=1).any(dim=1)
        assert has.any() and torch.allclose(part[has], expected[has], atol=1e-5)
    ctx = model.backbone.context(batch)
    assert torch.allclose(neck.of_subset(ctx), model.extract_features(batch)['joint'], atol=1e-5)
    everything = {m: torch.ones_like(ctx.present[m]) for m in model.modalities}   # no more than the step has
    assert torch.allclose(neck.of_subset(ctx, everything), neck.of_subset(ctx), atol=1e-6)


def _infonce(a, p, temperature):
    """The symmetric InfoNCE of rows a[b] <-> p[b], by hand."""
    a, p = F.normalize(a, dim=-1), F.normalize(p, dim=-1)
    n = a.shape[0]
    loss = 0.0
    for b in range(n):
        row = [float(a[b] @ p[c]) / temperature for c in range(n)]
        col = [float(a[c] @ p[b]) / temperature for c in range(n)]
        loss += (math.log(sum(math.exp(x) for x in row)) - row[b]) + (math.log(sum(math.exp(x) for x in col)) - col[b])
    return 0.5 * loss / n


def _drawn_subset(present, rate):
    """The subset drop_modalities draws from torch's global generator, by hand."""
    draw = torch.rand(present.shape)
    kept = present & (draw >= rate)
    lost = present.any(dim=1) & ~kept.any(dim=1)
    kept[lost, torch.where(present, draw, torch.full_like(draw, -1.0)).argmax(dim=1)[lost]] = True
    return kept


def _joint_with(model, batch, keep):
    """(B, D) joint of each record b encoded with only its modalities keep[b] (a (B, M) mask)."""
    order = list(model.modalities)
    rows = []
    for b in range(keep.shape[0]):
        only = [m for k, m in enumerate(order) if keep[b, k]]
        rows.append(model.extract_features(drop_modalities(batch, keep=only))['joint'][b])
    return torch.stack(rows)


@pytest.mark.parametrize('complementary', [False, True])
def test_aligned_subset_loss_is_an_infonce_of_the_full_and_the_subset_joint(batch, complementary):
    model = _fitted(_aligned_model(centre=True, complete=True, width=32), batch)
    objective = model.objectives['subset']
    objective.complementary = complementary
    order = list(model.modalities)
    ctx = model.backbone.context(batch)
    torch.manual_seed(7)
    out = objective(ctx)
    torch.manual_seed(7)   # the same draw of the subset, by hand
    present = torch.stack([ctx.present[m].bool() for m in order], dim=1)
    kept = _drawn_subset(present, objective.drop_rate)
    assert not torch.equal(kept, present)                                # the draw dropped something
    part = _joint_with(model, batch, kept)
    if complementary:   # the dropped modalities' joint, over the records that dropped any
        rest = present & ~kept
        rows = rest.any(dim=1)
        assert int(rows.sum()) >= 2
        expected = _infonce(_joint_with(model, batch, rest)[rows], part[rows], objective.temperature)
    else:
        expected = _infonce(model.extract_features(batch)['joint'], part, objective.temperature)
    assert float(out['loss_subset'].detach()) == pytest.approx(expected, rel=1e-4)


def test_training_with_the_subset_term_reaches_the_aligned_projections(batch):
    model = _aligned_model(centre=True, complete=True, importance=True, width=32)
    model.train()
    torch.manual_seed(3)
    out = model(batch)
    assert torch.isfinite(out['loss_subset']) and float(out['loss_subset'].detach()) > 0
    out['loss_subset'].backward()
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in model.backbone.projections.parameters())
