"""The pieces that keep a pretrained tower's geometry in the contrastive space (issue 22): the residual
projection head (and its per-modality overrides), the tower's own pooled feature (``pooled_source='backbone'``),
relational distillation, and the uniformity term that keeps a modality's embeddings apart."""
import math

import pytest
import torch
import torch.nn.functional as F

from m5mm.models.encoders import PretrainedImageEncoder
from m5mm.models.objectives.relational_distillation_objective import RelationalDistillationObjective
from m5mm.models.objectives.uniformity_objective import UniformityObjective, uniformity_loss
from m5mm.registry import HEADS, MODELS
from tests.test_models.batch_factory import tiny_data_meta, tiny_encoder_cfgs

TAIL = dict(dim=16, depth=1, num_heads=2)


def _cosines(x):
    unit = F.normalize(x, dim=-1)
    return unit @ unit.T


def test_residual_head_starts_exactly_at_its_fixed_orthogonal_map():
    torch.manual_seed(0)
    head = HEADS.build(dict(type='ResidualProjectionHead', in_dim=12, out_dim=12))
    x = torch.randn(5, 12)
    torch.testing.assert_close(head(x), x @ head.fixed.T)
    torch.testing.assert_close(head.fixed @ head.fixed.T, torch.eye(12), atol=1e-5, rtol=0)
    torch.testing.assert_close(_cosines(head(x)), _cosines(x), atol=1e-5, rtol=0)   # square: every cosine kept
    narrow = HEADS.build(dict(type='ResidualProjectionHead', in_dim=12, out_dim=4, hidden_dim=6))
    torch.testing.assert_close(narrow(x), x @ narrow.fixed.T)                       # zero residual, hidden layer too
    torch.testing.assert_close(narrow.fixed @ narrow.fixed.T, torch.eye(4), atol=1e-5, rtol=0)  # orthonormal rows


def test_heads_of_one_width_share_their_map_and_the_residual_scale_scales_the_residual():
    torch.manual_seed(0)
    title = HEADS.build(dict(type='ResidualProjectionHead', in_dim=12, out_dim=4))
    torch.manual_seed(1)
    table = HEADS.build(dict(type='ResidualProjectionHead', in_dim=12, out_dim=4, residual_scale=0.1))
    assert torch.equal(title.fixed, table.fixed)           # one tower read twice: one space at the start
    other = HEADS.build(dict(type='ResidualProjectionHead', in_dim=12, out_dim=4, map_seed=1))
    assert not torch.allclose(title.fixed, other.fixed)
    x = torch.randn(3, 12)
    with torch.no_grad():
        table.residual[0].weight.fill_(1.0)
    torch.testing.assert_close(table(x), x @ table.fixed.T + 0.1 * (x.sum(-1, keepdim=True) + table.residual[0].bias))
    with pytest.raises(ValueError, match='residual_scale'):
        HEADS.build(dict(type='ResidualProjectionHead', in_dim=12, out_dim=4, residual_scale=0.0))


def test_residual_head_trains_only_the_residual_and_saves_its_map():
    head = HEADS.build(dict(type='ResidualProjectionHead', in_dim=6, out_dim=4, normalize=True))
    assert 'fixed' in head.state_dict() and all(n.startswith('residual.') for n, _ in head.named_parameters())
    head(torch.randn(3, 6)).sum().backward()
    assert head.residual[-1].weight.grad is not None
    assert torch.allclose(head(torch.randn(3, 6)).norm(dim=-1), torch.ones(3))
    with pytest.raises(ValueError, match='no output activation'):
        HEADS.build(dict(type='ResidualProjectionHead', in_dim=6, out_dim=4, activation='relu'))
    HEADS.build(dict(type='ResidualProjectionHead', in_dim=6, out_dim=4, activation=None))   # a ProjectionHead's key


def test_backbone_pooled_source_is_the_towers_mean_token(tiny_pretrained):
    torch.manual_seed(0)
    tower = PretrainedImageEncoder(pretrained=str(tiny_pretrained / 'vit'), freeze=True, pooled_source='backbone',
                                   **TAIL)
    pixels, present = torch.randn(3, 3, 64, 64), torch.tensor([True, False, True])
    feats, mask, _ = tower.backbone_features({'pixels': pixels, 'present': present})
    out = tower({'pixels': pixels, 'present': present}, mask_ratio=0.25)
    expected = (feats * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
    assert tower.out_dim == tower.feat_dim == 32 and out.pooled.shape == (3, 32) and out.tokens.shape[-1] == 16
    torch.testing.assert_close(out.pooled, expected)
    assert torch.equal(out.pooled[1], torch.zeros(32))                               # absent: zero
    cached = tower({'feats': feats, 'feat_mask': mask, 'present': present})          # cached features: the same
    torch.testing.assert_close(cached.pooled, expected)
    with pytest.raises(ValueError, match='pooled_source'):
        PretrainedImageEncoder(pretrained=str(tiny_pretrained / 'vit'), pooled_source='cls', **TAIL)
    with pytest.raises(ValueError, match='pooled_proj'):
        PretrainedImageEncoder(pretrained=str(tiny_pretrained / 'vit'), pooled_source='backbone',
                               pooled_proj='linear', **TAIL)


def _by_hand(student, teacher):
    """The loss written out with loops: centred rows, cosines, squared differences off the diagonal."""
    s, t = student - student.mean(0), teacher - teacher.mean(0)
    total, count = 0.0, 0
    for b in range(len(s)):
        for c in range(len(s)):
            if b != c:
                cs = float(s[b] @ s[c] / (s[b].norm() * s[c].norm()))
                ct = float(t[b] @ t[c] / (t[b].norm() * t[c].norm()))
                total, count = total + (cs - ct) ** 2, count + 1
    return total / count


class _Ctx:
    """The fields the objective reads of a forward context."""

    def __init__(self, embeddings, pooled, present):
        class _Out:
            def __init__(self, p):
                self.pooled = p
        self.clean_embeddings = embeddings
        self.clean_encoded = {m: _Out(p) for m, p in pooled.items()}
        self.present = present
        self.backbone = type('B', (), {'modalities': list(embeddings)})()


def test_relational_distillation_matches_a_hand_computation():
    torch.manual_seed(0)
    z_img, f_img = torch.randn(4, 3, requires_grad=True), torch.randn(4, 5)
    z_txt, f_txt = torch.randn(4, 3), torch.randn(4, 7)
    present = {'image': torch.tensor([True, True, False, True]), 'text': torch.tensor([True, False, False, False])}
    objective = RelationalDistillationObjective(loss_weight=2.0)
    out = objective(_Ctx({'image': z_img, 'text': z_txt}, {'image': f_img, 'text': f_txt}, present))
    rows = [0, 1, 3]
    expected = _by_hand(z_img.detach()[rows], f_img[rows])   # text has one sample: no term
    assert set(out) == {'loss_rkd', 'rkd_image'}
    assert out['rkd_image'].item() == pytest.approx(expected, rel=1e-5)
    assert out['loss_rkd'].item() == pytest.approx(2 * expected, rel=1e-5)
    out['loss_rkd'].backward()
    assert z_img.grad is not None and z_img.grad[2].abs().sum() == 0                 # the absent sample: no gradient
    same = objective(_Ctx({'image': f_img @ torch.linalg.qr(torch.randn(5, 5))[0]}, {'image': f_img},
                          {'image': torch.ones(4, dtype=torch.bool)}))
    assert same['loss_rkd'].item() == pytest.approx(0.0, abs=1e-10)                   # a rotation keeps every cosine


SPLIT = (5, 3)   # uneven local batches


def _rkd_data():
    gen = torch.Generator().manual_seed(2)
    weight = torch.randn(6, 4, generator=gen)
    pooled = {'image': torch.randn(8, 6, generator=gen), 'text': torch.randn(8, 6, generator=gen)}
    present = {'image': torch.tensor([1, 0, 1, 1, 1, 1, 0, 1], dtype=torch.bool),
               'text': torch.tensor([1, 1, 1, 0, 0, 0, 1, 0], dtype=torch.bool)}   # rank 1 has one text
    return weight, pooled, present


def _rkd_loss_and_grad(part=slice(None)):
    weight, pooled, present = _rkd_data()
    weight.requires_grad_(True)
    out = RelationalDistillationObjective()(_Ctx({m: p[part] @ weight for m, p in pooled.items()},
                                                 {m: p[part] for m, p in pooled.items()},
                                                 {m: v[part] for m, v in present.items()}))
    out['loss_rkd'].backward()
    return {k: v.detach() for k, v in out.items()}, weight.grad


def test_relational_distillation_on_two_processes_equals_one(tmp_path):
    """Each rank's share of the batch: the loss of the whole (gathered) batch, not of the local one."""
    from tests.two_processes import run_on_two_ranks
    ref_out, ref_grad = _rkd_loss_and_grad()
    assert set(ref_out) == {'loss_rkd', 'rkd_image', 'rkd_text'} and float(ref_out['loss_rkd']) > 0
    for out, grad in run_on_two_ranks(_rkd_loss_and_grad, tmp_path, SPLIT):
        for key, value in ref_out.items():
            torch.testing.assert_close(out[key], value, rtol=1e-5, atol=1e-7, msg=key)
        torch.testing.assert_close(grad, ref_grad, rtol=1e-4, atol=1e-7)


def test_projection_overrides_change_one_modalitys_head():
    cfg = dict(type='ScalePretrainer', encoders=tiny_encoder_cfgs(32), data_meta=tiny_data_meta(),
               fusion=dict(type='ScaleFusion', dim=32, depth=1, num_heads=2),
               projection=dict(type='ResidualProjectionHead', out_dim=16, residual_scale=1.0),
               projection_overrides=dict(image=dict(residual_scale=0.1), video=dict(residual_scale=0.1)))
    heads = MODELS.build(cfg).backbone.projections
    assert {m: h.residual_scale for m, h in heads.items()} == dict(image=0.1, video=0.1, text=1.0, table=1.0,
                                                                   audio=1.0)
    kept = MODELS.build(dict(cfg, modalities=['text', 'audio'])).backbone.projections   # image left out: ignored
    assert sorted(kept) == ['audio', 'text']
    with pytest.raises(KeyError, match=r"projection_overrides names \['imgae'\]"):
        MODELS.build(dict(cfg, projection_overrides=dict(imgae=dict(residual_scale=0.1))))


def _uniformity_by_hand(z, t=2.0):
    z = [v / v.norm() for v in z.float()]
    values = [math.exp(-t * float((a - b).pow(2).sum())) for i, a in enumerate(z) for j, b in enumerate(z) if i != j]
    return math.log(sum(values) / len(values))


def test_uniformity_matches_a_hand_computation_and_falls_as_embeddings_spread():
    torch.manual_seed(0)
    z_img, z_txt = torch.randn(4, 3, requires_grad=True), torch.randn(4, 3)
    present = {'image': torch.tensor([True, True, False, True]), 'text': torch.tensor([True, False, False, False])}
    objective = UniformityObjective(loss_weight=2.0)
    out = objective(_Ctx({'image': z_img, 'text': z_txt}, {'image': z_img, 'text': z_txt}, present))
    expected = _uniformity_by_hand(z_img.detach()[[0, 1, 3]])    # text has one sample: no term
    assert set(out) == {'loss_uniform', 'uniform_image'}
    assert out['uniform_image'].item() == pytest.approx(expected, rel=1e-5)
    assert out['loss_uniform'].item() == pytest.approx(2 * expected, rel=1e-5)
    out['loss_uniform'].backward()
    assert z_img.grad[2].abs().sum() == 0 and z_img.grad[0].abs().sum() > 0          # the absent sample: no gradient
    gathered = torch.tensor([[1.0, 0.0], [0.9, 0.1], [1.0, 0.05]])
    spread = torch.tensor([[1.0, 0.0], [-0.5, 0.87], [-0.5, -0.87]])
    assert uniformity_loss(gathered) == pytest.approx(0.0, abs=0.05)                   # one direction: ~log 1
    assert uniformity_loss(spread) == pytest.approx(-6.0, abs=0.01)                    # 3 points 120 deg apart
    with pytest.raises(ValueError, match='t must be > 0'):
        UniformityObjective(t=0)


def _uniformity_loss_and_grad(part=slice(None)):
    weight, pooled, present = _rkd_data()
    weight.requires_grad_(True)
    out = UniformityObjective()(_Ctx({m: p[part] @ weight for m, p in pooled.items()},
                                     {m: p[part] for m, p in pooled.items()}, {m: v[part] for m, v in present.items()}))
    out['loss_uniform'].backward()
    return {k: v.detach() for k, v in out.items()}, weight.grad


def test_uniformity_on_two_processes_equals_one(tmp_path):
    from tests.two_processes import run_on_two_ranks
    ref_out, ref_grad = _uniformity_loss_and_grad()
    assert set(ref_out) == {'loss_uniform', 'uniform_image', 'uniform_text'}
    for out, grad in run_on_two_ranks(_uniformity_loss_and_grad, tmp_path, SPLIT):
        for key, value in ref_out.items():
            torch.testing.assert_close(out[key], value, rtol=1e-5, atol=1e-7, msg=key)
        torch.testing.assert_close(grad, ref_grad, rtol=1e-4, atol=1e-7)
