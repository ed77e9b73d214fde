"""Multi-positive (grouped) InfoNCE and the sigmoid loss: hand computations, group of one, 2 processes, accumulation."""
from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from m5mm.utils.accelerator import build_accelerator
from m5mm.engine.contrastive_accumulation import ContrastiveAccumulator
from m5mm.registry import HARMONIZERS, OBJECTIVES
from tests.test_models.batch_factory import make_batch
from tests.test_utils.test_distributed import MODALITIES, SPLIT, _data, _model

GROUPS = torch.tensor([0, 1, 0, -1, 2, 1, 2, 0])     # 8 samples, duplicates across the 5 + 3 split


pytestmark = pytest.mark.usefixtures('fresh_accelerator_state')   # tests/conftest.py


def _hand_batch():
    gen = torch.Generator().manual_seed(1)
    emb = {'text': torch.randn(4, 3, generator=gen), 'image': torch.randn(4, 3, generator=gen)}
    present = {'text': torch.tensor([True, True, True, True]), 'image': torch.tensor([True, True, False, True])}
    return emb, present, torch.tensor([7, 7, 7, -1])   # sample 2 (group 7) has no image


def test_multi_positive_infonce_equals_a_hand_computation_with_groups_and_a_missing_modality():
    emb, present, groups = _hand_batch()
    T = 0.5
    out = OBJECTIVES.build(dict(type='InterModalityContrastiveObjective', temperature=T, group_by='instance')
                           ).compute(emb, present, groups=groups)
    z = {m: F.normalize(e, dim=-1) for m, e in emb.items()}
    valid = [0, 1, 3]                                  # samples with both modalities
    total = 0.0
    for a, b in (('text', 'image'), ('image', 'text')):
        for q in valid:
            logits = {c: float(z[a][q] @ z[b][c]) / T for c in valid}
            log_norm = math.log(sum(math.exp(v) for v in logits.values()))
            positives = [c for c in valid if c == q or (groups[c] == groups[q] and groups[q] >= 0)]
            total += -sum(logits[p] - log_norm for p in positives) / len(positives)
    assert float(out['loss_con']) == pytest.approx(total / (2 * len(valid)), rel=1e-6)


def _sigmoid_sum_by_hand(emb, groups, valid, t=4.0, bias=-2.0):
    """SigLIP's loss summed over both directions and every pair of the ``valid`` samples, with loops."""
    z = {m: F.normalize(e, dim=-1) for m, e in emb.items()}
    total = 0.0
    for a, b in (('text', 'image'), ('image', 'text')):
        for q in valid:
            for c in valid:
                y = 1.0 if c == q or (groups[c] == groups[q] and groups[q] >= 0) else -1.0
                total += -math.log(1 / (1 + math.exp(-y * (t * float(z[a][q] @ z[b][c]) + bias))))
    return total


def test_sigmoid_loss_equals_a_hand_computation_with_groups_and_a_missing_modality():
    emb, present, groups = _hand_batch()
    out = OBJECTIVES.build(dict(type='SigmoidContrastiveObjective', temperature=0.25, bias=-2.0, group_by='instance')
                           ).compute(emb, present, groups=groups)
    valid, total = [0, 1, 3], _sigmoid_sum_by_hand(emb, groups, [0, 1, 3])
    assert float(out['loss_con'].detach()) == pytest.approx(total / (2 * len(valid)), rel=1e-6)
    assert set(out) >= {'con_temperature', 'con_bias', 'acc_con_text_image'}


def test_sigmoid_pairs_normalization_is_the_mean_over_the_valid_pairs():
    """normalization='pairs': the summed loss of both directions over 2 * n^2 (n valid samples), SigLIP's
    per-sample sum (the default) divided by n once more, with groups and a missing modality."""
    emb, present, groups = _hand_batch()
    cfg = dict(type='SigmoidContrastiveObjective', temperature=0.25, bias=-2.0, group_by='instance')
    valid, total = [0, 1, 3], _sigmoid_sum_by_hand(emb, groups, [0, 1, 3])
    pairs = OBJECTIVES.build(dict(cfg, normalization='pairs')).compute(emb, present, groups=groups)
    samples = OBJECTIVES.build(cfg).compute(emb, present, groups=groups)
    assert float(pairs['loss_con'].detach()) == pytest.approx(total / (2 * len(valid) ** 2), rel=1e-6)
    assert float(samples['loss_con'].detach()) == pytest.approx(total / (2 * len(valid)), rel=1e-6)
    assert float(pairs['acc_con_text_image']) == float(samples['acc_con_text_image'])
    with pytest.raises(ValueError, match='normalization'):
        OBJECTIVES.build(dict(cfg, normalization='rows'))


def test_sigmoid_takes_the_packaged_configs_mean_one_weights():
    """configs/scale_5mod_packaged.py's con sets mean_one_weights=True; its sigmoid form must take it and use the
    harmonizer's weights divided by their mean over the valid pairs (both modalities present, i != j)."""
    emb, present, groups = _hand_batch()
    weights = torch.tensor([[[1.0, 0.1], [0.2, 1.0]], [[1.0, 0.3], [0.1, 1.0]], [[1.0, 0.9], [0.9, 1.0]],
                            [[1.0, 0.2], [0.3, 1.0]]])
    mean = (0.1 + 0.2 + 0.3 + 0.1 + 0.2 + 0.3) / 6        # sample 2 has no image: its pairs are not valid
    cfg = dict(type='SigmoidContrastiveObjective', temperature=0.25, bias=-2.0, group_by='instance')
    scaled = OBJECTIVES.build(dict(cfg, mean_one_weights=True)).compute(emb, present, weights, groups=groups)
    by_hand = OBJECTIVES.build(cfg).compute(emb, present, weights / mean, groups=groups)
    raw = OBJECTIVES.build(cfg).compute(emb, present, weights, groups=groups)
    assert float(scaled['loss_con']) == pytest.approx(float(by_hand['loss_con']), rel=1e-6)
    assert float(scaled['loss_con']) != pytest.approx(float(raw['loss_con']), rel=1e-3)


@pytest.mark.parametrize('groups', [torch.arange(8), torch.full((8,), -1), torch.tensor([0, 1, 2, 3, 4, 5, 6, -1])])
@pytest.mark.parametrize('weight_mode', ['logits', 'loss'])
def test_a_group_of_one_is_todays_loss_exactly(groups, weight_mode):
    inputs, present = _data()
    results = []
    for group_by in (None, 'instance'):
        model = _model()
        emb = {m: model[m](inputs[m]) for m in MODALITIES}
        weights = HARMONIZERS.build(dict(type='CosineGraphHarmonizer'))(emb, present).weights
        loss_fn = OBJECTIVES.build(dict(type='InterModalityContrastiveObjective', weight_mode=weight_mode,
                                        group_by=group_by))
        out = loss_fn.compute(emb, present, weights, groups=groups if group_by else None)
        out['loss_con'].backward()
        results.append((out, [p.grad for p in model.parameters()]))
    (today, today_grads), (grouped, grouped_grads) = results
    for key, value in today.items():
        assert torch.equal(grouped[key], value), key
    for a, b in zip(today_grads, grouped_grads):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-7)


def test_duplicates_change_the_loss_and_count_as_hits():
    inputs, present = _data()
    model = _model()
    emb = {m: model[m](inputs[m]).detach() for m in MODALITIES}
    loss_fn = OBJECTIVES.build(dict(type='InterModalityContrastiveObjective', group_by='instance'))
    a = loss_fn.compute(emb, present, groups=torch.arange(8))
    b = loss_fn.compute(emb, present, groups=torch.zeros(8, dtype=torch.long))   # all one product
    assert float(b['acc_con_text_image']) == 1.0 and float(a['acc_con_text_image']) < 1.0
    assert float(b['loss_con']) != pytest.approx(float(a['loss_con']))


OBJECTIVE_CFGS = {
    'multi_positive': dict(type='InterModalityContrastiveObjective', group_by='instance', learnable_temperature=True),
    'sigmoid_ring': dict(type='SigmoidContrastiveObjective', group_by='instance', exchange='ring'),
    'sigmoid_gather': dict(type='SigmoidContrastiveObjective', group_by='instance', exchange='gather'),
    # the mean over the valid pairs divides by global counts: the same across processes
    'sigmoid_ring_pairs': dict(type='SigmoidContrastiveObjective', group_by='instance', exchange='ring',
                               normalization='pairs'),
    'sigmoid_gather_pairs': dict(type='SigmoidContrastiveObjective', group_by='instance', exchange='gather',
                                 normalization='pairs'),
}


def _loss_and_grads(name, inputs, present, groups):
    model = _model()
    torch.manual_seed(0)
    loss_fn = OBJECTIVES.build(OBJECTIVE_CFGS[name])
    emb = {m: model[m](inputs[m]) for m in MODALITIES}
    weights = HARMONIZERS.build(dict(type='CosineGraphHarmonizer'))(emb, present).weights
    out = loss_fn.compute(emb, present, weights, groups=groups)
    out['loss_con'].backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    grads.update({f'objective.{n}': p.grad.clone() for n, p in loss_fn.named_parameters()})
    return {k: v.detach() for k, v in out.items()}, grads


def _worker(rank, world, init_file, result_file):
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=world)
    try:
        inputs, present = _data()
        start = sum(SPLIT[:rank])
        part = slice(start, start + SPLIT[rank])
        result = {}
        for name in OBJECTIVE_CFGS:
            out, grads = _loss_and_grads(name, {m: v[part] for m, v in inputs.items()},
                                         {m: v[part] for m, v in present.items()}, GROUPS[part])
            for grad in grads.values():   # what DDP does: average over ranks
                dist.all_reduce(grad)
                grad /= world
            result[name] = (out, grads)
        torch.save(result, f'{result_file}.{rank}')
    finally:
        dist.destroy_process_group()


def test_two_processes_equal_one_for_multi_positive_and_sigmoid_ring_and_gather(tmp_path):
    """Every OBJECTIVE_CFGS entry (sigmoid with both normalizations) on 2 ranks = one process: loss and gradients."""
    init_file, result_file = tmp_path / 'init', tmp_path / 'result'
    mp.start_processes(_worker, args=(2, str(init_file), str(result_file)), nprocs=2, start_method='spawn')
    results = [torch.load(f'{result_file}.{r}') for r in range(2)]
    inputs, present = _data()
    for name in OBJECTIVE_CFGS:
        ref_out, ref_grads = _loss_and_grads(name, inputs, present, GROUPS)
        for res in results:
            out, grads = res[name]
            for key, value in ref_out.items():
                torch.testing.assert_close(out[key], value, rtol=1e-5, atol=1e-6, msg=f'{name} {key}')
            for key, grad in ref_grads.items():
                torch.testing.assert_close(grads[key], grad, rtol=1e-4, atol=1e-6, msg=f'{name} {key}')


def assert_accumulation_k2_equals_the_big_batch(name: str, cfg: dict):
    """A tiny SCALE model with objective ``name`` built from ``cfg``: contrastive accumulation K=2 gives the
    losses, accuracies and gradients of one pass over the grouped batch of 12 -> the accumulated model."""
    from tests.test_engine.test_contrastive_accumulation import _scale_model
    model = _scale_model().train()
    model.objectives[name] = OBJECTIVES.build(dict(cfg, name=name))
    batch = make_batch(12, absent={'image': [3, 7], 'table': [1], 'audio': [0, 2, 5]})
    batch['meta']['instance'] = torch.tensor([0, 1, 2, 3, 0, 1, 6, 7, 2, -1, 6, 0])   # pairs across the halves
    reference = copy.deepcopy(model)
    expected = reference(batch)
    sum(v for k, v in expected.items() if k.startswith('loss')).backward()
    got = ContrastiveAccumulator(accelerator=build_accelerator(precision='no'), steps=2).forward_backward(model, batch)
    assert float(expected[f'loss_{name}']) > 0
    for key in [k for k in expected if k.startswith(('loss', f'{name}_', f'acc_{name}'))]:
        assert float(got[key]) == pytest.approx(float(expected[key].detach()), rel=1e-5, abs=1e-6), key
    checked = 0
    for (param, p), q in zip(reference.named_parameters(), model.parameters()):
        if p.grad is not None:
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-5, msg=param)
            checked += 1
    assert checked > 10
    return model


@pytest.mark.parametrize('objective', ['InterModalityContrastiveObjective', 'SigmoidContrastiveObjective'])
def test_contrastive_accumulation_k2_equals_the_big_batch_with_groups(objective):
    model = assert_accumulation_k2_equals_the_big_batch(
        'con', dict(type=objective, group_by='instance', learnable_temperature=True))
    assert model.objectives['con'].log_scale.grad.abs() > 0


def grouped_scale_step(**objectives):
    """A tiny SCALE model with its default objectives updated by ``objectives`` (configs), after one step
    (forward + backward) on a batch of 6 with two pairs of listings -> (model, outputs)."""
    from m5mm.models.objectives import default_objectives
    from m5mm.registry import MODELS
    from tests.test_models.batch_factory import tiny_data_meta, tiny_encoder_cfgs
    cfgs = default_objectives(['image', 'text', 'table', 'video', 'audio'], {'table': 'text'})
    cfgs.update(objectives)
    torch.manual_seed(0)
    model = MODELS.build(dict(type='ScalePretrainer', encoders=tiny_encoder_cfgs(32), objectives=cfgs,
                              fusion=dict(type='ScaleFusion', dim=32, depth=1, num_heads=2),
                              data_meta=tiny_data_meta()))
    batch = make_batch(6)
    batch['meta']['instance'] = torch.tensor([0, 0, 1, 1, 2, -1])
    out = model(batch)
    sum(v for k, v in out.items() if k.startswith('loss')).backward()
    return model, out


@pytest.mark.parametrize('objective', ['InterModalityContrastiveObjective', 'SigmoidContrastiveObjective'])
def test_a_model_built_from_config_trains_with_grouped_objectives(objective):
    model, out = grouped_scale_step(con=dict(type=objective, group_by='instance'))
    assert torch.isfinite(out['loss_con'])
    assert all(p.grad is not None for p in model.objectives['con'].parameters())   # sigmoid: t and bias learn
