"""SCALE with a sixth modality: the default objectives, harmonizer and fusion take the point cloud as is."""
from __future__ import annotations

import torch

from m5mm import testing
from m5mm.models.objectives import MaskedFeatureRegressionObjective
from m5mm.registry import MODELS

POINTCLOUD_CFG = dict(type='PointCloudEncoder', num_groups=6, group_size=5, hidden_dim=16, dim=32, depth=1,
                      num_heads=2)


def six_modality_batch(batch_size: int = 4, seed: int = 0) -> dict:
    """m5mm's tiny five-modality batch plus a ``pointcloud`` entry (sample 2 without one)."""
    batch = testing.make_batch(batch_size, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    present = torch.ones(batch_size, dtype=torch.bool)
    present[2 % batch_size] = False
    mask = present[:, None].expand(batch_size, 24).clone()
    points = torch.randn(batch_size, 24, 3, generator=gen) * mask[..., None]
    batch['pointcloud'] = {'points': points, 'point_mask': mask, 'present': present}
    return batch


def build_scale():
    torch.manual_seed(0)
    encoders = dict(testing.tiny_encoder_cfgs(32), pointcloud=POINTCLOUD_CFG)
    return MODELS.build(dict(type='ScalePretrainer', encoders=encoders,
                             fusion=dict(type='ScaleFusion', dim=32, depth=1, num_heads=2)),
                        default_args=dict(data_meta=testing.tiny_data_meta()))


def test_scale_trains_six_modalities_with_every_parameter():
    model = build_scale().train()
    assert model.modalities[-1] == 'pointcloud'
    objective = model.objectives['mfm_pointcloud']         # the spec's pretext task (a continuous modality)
    assert isinstance(objective, MaskedFeatureRegressionObjective) and objective.modality == 'pointcloud'
    out = model(six_modality_batch())
    for key in ('loss_con', 'loss_mfm_pointcloud', 'weight_pointcloud', 'mask_weight_pointcloud',
                'con_text_pointcloud', 'con_image_pointcloud'):
        assert key in out and torch.isfinite(out[key]), key
    assert float(out['weight_pointcloud']) > 0
    sum(v for k, v in out.items() if k.startswith('loss')).backward()
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not unused, f'parameters without a gradient: {unused[:5]}'
    features = model.extract_features(six_modality_batch())
    assert features['fused']['pointcloud'].shape == (4, 32)
    assert features['present']['pointcloud'].tolist() == [True, True, False, True]
    assert not features['fused']['pointcloud'][2].any()   # absent: zero fused vector


def test_masked_point_modelling_loss_goes_down():
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='MultiModalPretrainer', encoders=dict(pointcloud=POINTCLOUD_CFG),
        fusion=dict(type='ScaleFusion', dim=32, depth=1, num_heads=2),
        objectives=dict(mfm=dict(type='MaskedFeatureRegressionObjective', modality='pointcloud', mask_ratio=0.5))))
    batch = six_modality_batch(batch_size=8)
    batch = {'pointcloud': batch['pointcloud'], 'meta': batch['meta']}
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = model(batch)['loss_mfm']
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.7 * first, f'masked point modelling did not learn: {first:.4f} -> {last:.4f}'
