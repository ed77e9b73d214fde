"""Contrastive-aware accumulation: K micro-batches give the loss and gradients of one batch of them all."""
import copy

import pytest
import torch

from m5mm.utils.accelerator import build_accelerator
from m5mm.engine.contrastive_accumulation import ContrastiveAccumulator, build_contrastive_accumulator
from m5mm.engine.micro_batches import micro_batch_sizes, split_batch
from m5mm.registry import MODELS
from tests.test_models.batch_factory import make_batch, tiny_data_meta, tiny_encoder_cfgs


pytestmark = pytest.mark.usefixtures('fresh_accelerator_state')   # tests/conftest.py


ABSENT = {'image': [3, 7], 'table': [1], 'video': [2, 9], 'audio': [0, 2, 5]}


def _scale_model():
    """Tiny SCALE with every objective; masks drawn so that they do not depend on the batch split
    (every candidate token / entity value / patch masked; no dropout), as the comparison needs."""
    from tests.test_models.test_pretrainer import TARGET_DIMS
    cfgs = tiny_encoder_cfgs(32)
    for m in ('text', 'table'):
        cfgs[m]['dropout'] = 0.0
    token = dict(mask_ratio=1.0, replace_prob=1.0, random_prob=0.0)
    objectives = {'con': dict(type='InterModalityContrastiveObjective', learnable_temperature=True),
                  'mlm': dict(type='MaskedLanguageModelObjective', modality='text', **token),
                  'mem': dict(type='MaskedEntityModelObjective', modality='table', value_prob=1.0,
                              share_head='mlm', **token)}
    for m, width in TARGET_DIMS.items():
        objectives[f'mfm_{m}'] = dict(type='MaskedFeatureRegressionObjective', modality=m, mask_ratio=0.999,
                                      head=dict(out_dim=width))
    torch.manual_seed(0)
    return MODELS.build(dict(type='ScalePretrainer', encoders=cfgs, objectives=objectives,
                             fusion=dict(type='ScaleFusion', dim=32, depth=1, num_heads=2),
                             data_meta=tiny_data_meta()))


def _clip_model():
    from tests.fixtures.model_numbers import build_step_model
    return build_step_model('configs/fusion/clip_2mod.py')


def _whole_and_accumulated(model, batch, steps):
    reference = copy.deepcopy(model)
    expected = reference(batch)
    sum(v for k, v in expected.items() if k.startswith('loss')).backward()
    got = ContrastiveAccumulator(accelerator=build_accelerator(precision='no'), steps=steps).forward_backward(
        model, batch)
    return reference, expected, got


def _assert_same_gradients(reference, model, atol=1e-5):
    checked = 0
    for (name, p), q in zip(reference.named_parameters(), model.parameters()):
        assert (p.grad is None) == (q.grad is None), name
        if p.grad is not None:
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=atol, msg=name)
            checked += 1
    assert checked > 10


def test_scale_with_every_objective_equals_the_whole_batch():
    model = _scale_model().train()
    batch = make_batch(12, absent=ABSENT)
    reference, expected, got = _whole_and_accumulated(model, batch, steps=4)
    losses = [k for k in expected if k.startswith('loss')]
    assert len(losses) == 6 and set(expected) == set(got)
    for key in losses + [k for k in expected if k.startswith(('weight_', 'con_', 'acc_mlm', 'acc_mem'))]:
        assert float(got[key].detach()) == pytest.approx(float(expected[key].detach()), rel=1e-5, abs=1e-6), key
    _assert_same_gradients(reference, model)
    assert model.objectives['con'].log_scale.grad.abs() > 0            # the temperature learns from the cache


def test_clip_two_modalities_equals_the_whole_batch_and_uneven_splits():
    model = _clip_model().eval()   # no dropout (the towers' draws would differ between the two splits)
    batch = make_batch(10, modalities=list(model.modalities), absent={'text': [4]}, seed=3)
    reference, expected, got = _whole_and_accumulated(model, batch, steps=3)   # 4 + 3 + 3 samples
    assert float(got['loss_con']) == pytest.approx(float(expected['loss_con'].detach()), rel=1e-6)
    _assert_same_gradients(reference, model)


def test_the_random_state_is_replayed_and_advanced_once():
    """With dropout and random masks the replay sees the collect pass's draws (else the surrogate's
    embeddings would not be those of the cache) and the step leaves the generator where one pass would."""
    model = _clip_model().train()
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.3
    batch = make_batch(8, modalities=list(model.modalities), absent={}, seed=2)
    torch.manual_seed(5)
    ContrastiveAccumulator(accelerator=build_accelerator(precision='no'), steps=2).forward_backward(model, batch)
    after = torch.get_rng_state()
    torch.manual_seed(5)
    with torch.no_grad():
        for part in split_batch(batch, 2):
            model(part)
    assert torch.equal(after, torch.get_rng_state())


def test_split_batch_and_config_errors():
    batch = make_batch(5, absent={})
    parts = split_batch(batch, 2)
    assert micro_batch_sizes(5, 2) == [3, 2] and micro_batch_sizes(2, 4) == [1, 1]
    assert [len(p['meta']['ids']) for p in parts] == [3, 2]
    torch.testing.assert_close(torch.cat([p['text']['input_ids'] for p in parts]), batch['text']['input_ids'])
    accelerator = build_accelerator(precision='no')
    assert build_contrastive_accumulator({'contrastive_accumulation': 1}, accelerator) is None
    with pytest.raises(ValueError, match='do not combine'):
        build_contrastive_accumulator({'contrastive_accumulation': 2, 'accumulation_steps': 2}, accelerator)
    with pytest.raises(ValueError, match='>= 1'):
        ContrastiveAccumulator(accelerator=accelerator, steps=0)


def test_training_with_contrastive_accumulation_resumes_exactly(demo_root, tiny_config, tmp_path):
    """The trainer splits each loader batch of 8 into 2 micro-batches; a run stopped after one step
    and resumed ends bit-equal to an uninterrupted one (random state replayed and saved as before)."""
    from m5mm.engine import run_training
    opts = {'data_root': str(demo_root), 'optim.contrastive_accumulation': 2, 'precision': 'no'}
    whole = run_training(tiny_config, work_dir=str(tmp_path / 'whole'), cfg_options=opts, max_steps=3)
    run_training(tiny_config, work_dir=str(tmp_path / 'split'), cfg_options=opts, max_steps=1)
    resumed = run_training(tiny_config, work_dir=str(tmp_path / 'split'), cfg_options=opts, resume='auto',
                           max_steps=3)
    assert whole.state.step == resumed.state.step == 3 and whole.state.samples == 24
    expected, got = (t.accelerator.unwrap_model(t.model).state_dict() for t in (whole, resumed))
    assert all(torch.equal(expected[k], got[k]) for k in expected)
