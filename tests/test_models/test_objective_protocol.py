"""The objective protocol of m5mm 0.3: objectives are pure functions of the context.

An objective written without knowing about contrastive accumulation (it reports the count it averages
over, or declares the context fields it needs over the whole batch) is exact under it; the model gives
every parameter its gradient; what an objective gets at build time is declared and checked.
"""
import copy
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from m5mm.utils.accelerator import build_accelerator
from m5mm.engine.contrastive_accumulation import ContrastiveAccumulator
from m5mm.models.objectives import BaseObjective
from m5mm.registry import MODELS, OBJECTIVES
from tests.test_models.batch_factory import make_batch, tiny_data_meta, tiny_encoder_cfgs


pytestmark = pytest.mark.usefixtures('fresh_accelerator_state')   # tests/conftest.py


@OBJECTIVES.register_module(force=True)
class _PresentNormObjective(BaseObjective):
    """Mean over the samples that have text of a head's squared output: its count varies per micro-batch."""

    needs = ('backbone',)

    def __init__(self, *, backbone, loss_weight: float = 1.0, name: str = 'norm') -> None:
        super().__init__(name=name, loss_weight=loss_weight)
        self.head = nn.Linear(backbone.embedding_widths()['text'], 3)

    def forward(self, ctx):
        rows = ctx.present['text'].bool()
        if not rows.any():
            return {f'loss_{self.name}': torch.zeros(()), f'count_{self.name}': 0}
        value = self.head(ctx.embeddings['text'][rows]).pow(2).sum(-1).mean()
        return {f'loss_{self.name}': value, f'acc_{self.name}': value.detach(), f'count_{self.name}': int(rows.sum())}


@OBJECTIVES.register_module(force=True)
class _TinyInfoNCEObjective(BaseObjective):
    """In-batch InfoNCE of text against image: needs the whole batch's embeddings."""

    min_modalities = 2
    needs = ()
    batch_wide = ('embeddings',)

    def __init__(self, *, name: str = 'nce') -> None:
        super().__init__(name=name)
        self.log_scale = nn.Parameter(torch.tensor(2.0))

    def forward(self, ctx):
        rows = ctx.present['text'].bool() & ctx.present['image'].bool()
        a = F.normalize(ctx.embeddings['text'][rows].float(), dim=-1)
        b = F.normalize(ctx.embeddings['image'][rows].float(), dim=-1)
        logits = a @ b.t() * self.log_scale.exp()
        return {f'loss_{self.name}': F.cross_entropy(logits, torch.arange(len(a)))}


def _model(objectives):
    cfgs = {m: cfg for m, cfg in tiny_encoder_cfgs(16).items() if m in ('text', 'image')}
    cfgs['text']['dropout'] = 0.0
    torch.manual_seed(0)
    return MODELS.build(dict(type='MultiModalPretrainer', encoders=cfgs, objectives=objectives,
                             fusion=dict(type='ScaleFusion', dim=16, depth=1, num_heads=2),
                             projection=dict(type='ProjectionHead', out_dim=16), data_meta=tiny_data_meta())).eval()


def _accumulated(model, batch, steps):
    reference = copy.deepcopy(model)
    expected = reference(batch)
    sum(v for k, v in expected.items() if k.startswith('loss')).backward()
    got = ContrastiveAccumulator(accelerator=build_accelerator(precision='no'), steps=steps).forward_backward(
        model, batch)
    return reference, expected, got


def test_counting_and_batch_wide_objectives_are_exact_under_accumulation():
    """Neither objective knows about accumulation; split 5 + 5 with text present 4 + 2 times, both equal the
    whole batch (a 1/K share or per-micro-batch negatives would not)."""
    model = _model({'norm': dict(type='_PresentNormObjective'), 'nce': dict(type='_TinyInfoNCEObjective')})
    batch = make_batch(10, modalities=['text', 'image'], absent={'text': [0, 5, 6, 7]}, seed=1)
    reference, expected, got = _accumulated(model, batch, steps=2)
    assert not any(k.startswith('count_') for k in list(expected) + list(got))   # counts are the model's
    for key in ('loss_norm', 'acc_norm', 'loss_nce'):
        assert float(got[key]) == pytest.approx(float(expected[key].detach()), rel=1e-5), key
    for (name, p), q in zip(reference.named_parameters(), model.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6, msg=name)
    assert model.objectives['nce'].log_scale.grad.abs() > 0


def test_the_model_gives_every_parameter_a_gradient():
    """An objective returns a plain 0 when it has nothing to learn from; its head still gets a (zero) gradient."""
    model = _model({'norm': dict(type='_PresentNormObjective'), 'nce': dict(type='_TinyInfoNCEObjective')})
    batch = make_batch(4, modalities=['text', 'image'], absent={'text': [0, 1, 2, 3]}, seed=1)
    out = model(batch)
    sum(v for k, v in out.items() if k.startswith('loss')).backward()
    head = model.objectives['norm'].head
    assert all(p.grad is not None and not p.grad.any() for p in head.parameters())
    assert all(p.grad is not None for p in model.parameters())


def test_declared_build_facts_are_checked():
    from m5mm.models.objectives import ObjectiveBuildFacts
    from m5mm.models.objectives.build_facts import declared_needs

    class Renamed(BaseObjective):
        needs = ('backbone',)

        def __init__(self, *, trunk=None, name: str = 'x') -> None:   # was `backbone`
            super().__init__(name=name)

    class Unknown(BaseObjective):
        needs = ('tokenizer',)

    class Undeclared(BaseObjective):
        def __init__(self, *, backbone=None, name: str = 'x') -> None:
            super().__init__(name=name)

    with pytest.raises(TypeError, match=r"declares \['backbone'\].*takes no such keyword"):
        declared_needs(Renamed)
    with pytest.raises(TypeError, match='no build facts'):
        declared_needs(Unknown)
    with pytest.warns(FutureWarning, match='declares no `needs`'):
        assert declared_needs(Undeclared) == ('backbone',)
    assert [f for f in ObjectiveBuildFacts.__dataclass_fields__] == ['backbone', 'data_meta', 'mask_ratio']
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        for name in ('InterModalityContrastiveObjective', 'MaskedLanguageModelObjective', 'ClassificationObjective',
                     'MaskedFeatureRegressionObjective', 'MatchingObjective', 'SubsetConsistencyObjective',
                     'MaskedEntityModelObjective'):
            declared_needs(OBJECTIVES.get(name))


def test_a_renamed_argument_fails_at_build_time():
    OBJECTIVES.register_module(name='_RenamedArgObjective', force=True)(_renamed_class())
    with pytest.raises(TypeError, match='_RenamedArgObjective.needs declares'):
        _model({'norm': dict(type='_RenamedArgObjective')})


def _renamed_class():
    class _RenamedArgObjective(_PresentNormObjective):
        def __init__(self, *, trunk=None, name: str = 'norm') -> None:   # `backbone` renamed: no longer injected
            BaseObjective.__init__(self, name=name)

    return _RenamedArgObjective


def test_masked_token_modelling_on_a_modality_without_token_batches_fails_at_build():
    """A spec that pads a key with PAD_ID gets masked token modelling by default; when its batches have no
    `input_ids` + `attention_mask`, building the model says so (instead of a KeyError at the first forward)."""
    from m5mm.datasets.modalities import PAD_ID, KeySpec, ModalitySpec
    from m5mm.registry import MODALITIES

    @MODALITIES.register_module(name='_tags', force=True)
    class _TagModality(ModalitySpec):
        name = '_tags'
        field_type = 'value'
        keys = (KeySpec('tag_ids', pad=PAD_ID, shape=(), dtype=torch.long),)
        mask_key = 'tag_mask'

    cfg = dict(_TagModality.pretext_objective(), modality='_tags')
    assert cfg['type'] == 'MaskedLanguageModelObjective'
    with pytest.raises(ValueError, match=r"modality '_tags'.*without \['input_ids', 'attention_mask'\]"):
        OBJECTIVES.build(dict(cfg, data_meta=tiny_data_meta()))


@pytest.mark.parametrize('old, new, name', [
    ('m5mm.models.stacks', 'm5mm.models.activation_checkpointing', 'set_grad_checkpointing'),
    ('m5mm.models.backbones.spread', 'm5mm.models.backbones.collapse_statistics', 'modality_spread')])
def test_renamed_modules_keep_a_deprecated_alias(old, new, name):
    import importlib
    import sys
    sys.modules.pop(old, None)
    with pytest.warns(FutureWarning, match=new):
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)


def test_encoders_get_the_data_facts_they_declare_and_a_forgotten_one_is_an_error():
    from m5mm.models.backbones import build_encoders
    from m5mm.registry import ENCODERS

    @ENCODERS.register_module(name='_SizedEncoder', force=True)
    class _SizedEncoder(nn.Module):
        needs = ('image_size',)

        def __init__(self, *, image_size: int = 8, n_mels: int = 4) -> None:
            super().__init__()
            self.image_size, self.n_mels = image_size, n_mels

    inputs = {'image': {'image_size': 32}}
    built, _ = build_encoders({'image': dict(type='_SizedEncoder')}, {}, False, inputs=inputs)
    assert built['image'].image_size == 32
    with pytest.raises(TypeError, match=r"takes \['n_mels'\].*does not list them"):   # offered, taken, not declared
        build_encoders({'image': dict(type='_SizedEncoder')}, {}, False, inputs={'image': {'n_mels': 16}})
    _SizedEncoder.needs = ('image_size', 'num_frames')                                  # declared, not taken
    with pytest.raises(TypeError, match=r"declares \['num_frames'\]"):
        build_encoders({'image': dict(type='_SizedEncoder')}, {}, False, inputs=inputs)
