"""ModalityAlignmentObjective: 1 - cos between a sample's modalities, over the pairs it has."""
import pytest
import torch
import torch.nn.functional as F

from m5mm.models.objectives import ModalityAlignmentObjective
from m5mm.registry import MODELS
from tests.test_models.batch_factory import tiny_data_meta, tiny_encoder_cfgs


def test_loss_equals_a_hand_computation_over_the_pairs_each_sample_has():
    torch.manual_seed(0)
    emb = {m: torch.randn(3, 4) for m in ('text', 'image', 'table')}
    present = {'text': torch.tensor([True, True, False]), 'image': torch.tensor([True, False, True]),
               'table': torch.tensor([True, True, True])}
    out = ModalityAlignmentObjective(name='align', loss_weight=2.0).compute(emb, present)
    terms = []
    for b in range(3):
        have = [m for m in emb if present[m][b]]
        for x in range(len(have)):
            for y in range(x + 1, len(have)):
                terms.append(1 - F.cosine_similarity(emb[have[x]][b], emb[have[y]][b], dim=0))
    assert out['count_align'] == len(terms) == 5
    assert out['loss_align'].item() == pytest.approx(2.0 * float(sum(terms) / len(terms)), abs=1e-6)
    same = {m: emb['text'].clone() for m in emb}
    assert ModalityAlignmentObjective(name='align').compute(same, present)['loss_align'].item() == \
        pytest.approx(0.0, abs=1e-6)
    nobody = {m: torch.zeros(3, dtype=torch.bool) for m in emb}
    empty = ModalityAlignmentObjective(name='align').compute(emb, nobody)
    assert empty['count_align'] == 0 and empty['loss_align'].item() == 0.0


def test_pairs_restrict_the_terms_and_unknown_names_fail():
    emb = {m: torch.randn(2, 4) for m in ('text', 'image', 'table')}
    present = {m: torch.ones(2, dtype=torch.bool) for m in emb}
    out = ModalityAlignmentObjective(name='align', pairs=[('text', 'image')]).compute(emb, present)
    assert out['count_align'] == 2 and set(k for k in out if k.startswith('align_')) == {'align_text_image'}
    with pytest.raises(KeyError, match='audio'):
        ModalityAlignmentObjective(name='align', pairs=[('text', 'audio')]).compute(emb, present)


def test_in_a_model_beside_the_contrastive_loss_it_trains_the_projections(batch):
    torch.manual_seed(0)
    model = MODELS.build(dict(type='ScalePretrainer', encoders=tiny_encoder_cfgs(32), data_meta=tiny_data_meta(),
                              fusion=dict(type='ScaleFusion', dim=32, depth=1, num_heads=2),
                              projection=dict(type='ProjectionHead', out_dim=32),
                              objectives=dict(con=dict(type='InterModalityContrastiveObjective'),
                                              align=dict(type='ModalityAlignmentObjective'))))
    model.train()
    out = model(batch)
    assert 'loss_align' in out and 'count_align' not in out and out['loss_align'].item() > 0
    (out['loss_con'] + out['loss_align']).backward()
    assert all(p.grad is not None for p in model.backbone.projections.parameters())
