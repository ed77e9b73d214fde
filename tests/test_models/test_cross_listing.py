"""CrossListingObjective: within a modality, other listings of the product are positives (hand computation,
2 processes equal one, accumulation K=2 equal to the big batch, a model built from config trains)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from m5mm.registry import OBJECTIVES
from tests.test_utils.test_distributed import MODALITIES, SPLIT, _data, _model
from tests.two_processes import run_on_two_ranks

GROUPS = torch.tensor([0, 1, 0, -1, 2, 1, 2, 0])     # 8 samples, listings of one product across the 5 + 3 split

pytestmark = pytest.mark.usefixtures('fresh_accelerator_state')   # tests/conftest.py


def test_loss_equals_a_hand_computation_with_a_missing_listing_and_a_lone_product():
    gen = torch.Generator().manual_seed(3)
    emb = {'image': torch.randn(6, 3, generator=gen), 'text': torch.randn(6, 3, generator=gen)}
    present = {'image': torch.tensor([True, True, True, False, True, True]),
               'text': torch.tensor([True, True, True, True, True, False])}
    groups = torch.tensor([4, 4, 4, 9, 9, -1])   # image: sample 3 (group 9) absent, so sample 4 has no partner
    T = 0.5
    out = OBJECTIVES.build(dict(type='CrossListingObjective', temperature=T)).compute(emb, present, groups)
    z = {m: F.normalize(e, dim=-1) for m, e in emb.items()}
    per_modality = []
    for m in ('image', 'text'):
        have = [b for b in range(6) if present[m][b]]
        terms = []
        for q in have:
            partners = [p for p in have if p != q and groups[p] == groups[q] and groups[q] >= 0]
            if not partners:
                continue
            logits = {c: float(z[m][q] @ z[m][c]) / T for c in have if c != q}
            log_norm = math.log(sum(math.exp(v) for v in logits.values()))
            terms.append(-sum(logits[p] - log_norm for p in partners) / len(partners))
        per_modality.append(sum(terms) / len(terms))
    assert len(per_modality) == 2
    assert float(out['loss_listing']) == pytest.approx(sum(per_modality) / 2, rel=1e-6)
    assert 0.0 <= float(out['acc_listing_image']) <= 1.0


def test_without_any_partner_the_loss_is_a_zero_with_gradients():
    emb = {'image': torch.randn(4, 3, requires_grad=True)}
    out = OBJECTIVES.build(dict(type='CrossListingObjective')).compute(
        emb, {'image': torch.ones(4, dtype=torch.bool)}, torch.tensor([0, 1, 2, -1]))
    out['loss_listing'].backward()
    assert float(out['loss_listing'].detach()) == 0.0 and emb['image'].grad is not None


def _loss_and_grads(part=slice(None)):
    inputs, present = _data()
    model = _model()
    loss_fn = OBJECTIVES.build(dict(type='CrossListingObjective', temperature=0.2))
    out = loss_fn.compute({m: model[m](inputs[m][part]) for m in MODALITIES}, {m: v[part] for m, v in present.items()},
                          GROUPS[part])
    out['loss_listing'].backward()
    return {k: v.detach() for k, v in out.items()}, {n: p.grad.clone() for n, p in model.named_parameters()}


def test_two_processes_equal_one(tmp_path):
    ref_out, ref_grads = _loss_and_grads()
    assert float(ref_out['loss_listing']) > 0
    for out, grads in run_on_two_ranks(_loss_and_grads, tmp_path, SPLIT):
        for key, value in ref_out.items():
            torch.testing.assert_close(out[key], value, rtol=1e-5, atol=1e-6, msg=key)
        for key, grad in ref_grads.items():
            torch.testing.assert_close(grads[key], grad, rtol=1e-4, atol=1e-6, msg=key)


def test_contrastive_accumulation_k2_equals_the_big_batch():
    from tests.test_models.test_catalogue_contrastive import assert_accumulation_k2_equals_the_big_batch
    assert_accumulation_k2_equals_the_big_batch('listing', dict(type='CrossListingObjective'))


def test_a_model_built_from_config_trains_with_it_on_one_modality():
    from tests.test_models.test_catalogue_contrastive import grouped_scale_step
    model, out = grouped_scale_step(listing=dict(type='CrossListingObjective', modalities=['image'], loss_weight=0.5))
    assert float(out['loss_listing']) > 0
    assert set(k for k in out if k.startswith('acc_listing')) == {'acc_listing_image'}
    image_head = [p for n, p in model.named_parameters() if 'image' in n and p.requires_grad]
    assert image_head and any(p.grad is not None and p.grad.abs().sum() > 0 for p in image_head)
