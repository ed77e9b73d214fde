"""SubsetConsistencyObjective: the joint vector of a random modality subset against the full record's."""
import math
from dataclasses import replace

import pytest
import torch

from m5mm.evaluation.modality_mask import drop_modalities
from m5mm.models.objectives import SubsetConsistencyObjective, default_objectives
from m5mm.registry import MODELS
from tests.test_models.batch_factory import tiny_data_meta, tiny_encoder_cfgs


def _model(**kwargs):
    torch.manual_seed(0)
    objectives = dict(default_objectives(['image', 'text', 'table', 'video', 'audio'], {'table': 'text'}),
                      subset=dict(type='SubsetConsistencyObjective', temperature=0.1))
    return MODELS.build(dict(type='ScalePretrainer', encoders=tiny_encoder_cfgs(32), data_meta=tiny_data_meta(),
                             fusion=dict(type='ScaleFusion', dim=32, depth=1, num_heads=2), objectives=objectives,
                             projection=dict(type='ProjectionHead', out_dim=32), normalize_joint=False, **kwargs))


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
    model = _model(joint='centred')
    model.eval()
    keep = ['text', 'image']
    ctx = model.backbone.context(batch)
    part_present = {m: ctx.present[m] & (m in keep) for m in model.modalities}
    encoded = {m: replace(ctx.encoded[m], present=part_present[m]) for m in model.modalities}
    part = SubsetConsistencyObjective.joint_of(model.backbone, model.backbone.fuse(encoded), part_present)
    expected = model.extract_features(drop_modalities(batch, keep=keep))['joint']
    assert torch.allclose(part, expected, atol=1e-5)
    full = SubsetConsistencyObjective.joint_of(model.backbone, ctx.fused, ctx.present)
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
