"""Collating point clouds: padded ``points`` + ``point_mask``, absent samples, all-absent batches."""
from __future__ import annotations

import torch

from m5mm.datasets import ManifestDataset, collate
from m5mm.registry import MODALITIES
from m5mm_pointcloud import PointCloudModality


def _sample(i: int, points) -> dict:
    return dict(id=f's{i}', index=i, category=0, instance=i, errors={},
                pointcloud=None if points is None else {'points': points})


def test_padded_points_mask_and_presence():
    torch.manual_seed(0)
    clouds = [torch.randn(5, 3), None, torch.randn(3, 3), torch.randn(7, 3)]
    batch = collate([_sample(i, c) for i, c in enumerate(clouds)])   # spec found in the registry
    entry = batch['pointcloud']
    assert set(entry) == {'present', 'points', 'point_mask'}
    assert entry['present'].tolist() == [True, False, True, True]
    assert entry['points'].shape == (4, 7, 3)
    assert entry['point_mask'].tolist() == [[j < n for j in range(7)] for n in (5, 0, 3, 7)]
    for row, cloud in enumerate(clouds):
        n = 0 if cloud is None else len(cloud)
        if cloud is not None:
            assert torch.equal(entry['points'][row, :n], cloud)
        assert not entry['points'][row, n:].any()   # padding is 0


def test_all_absent_batch_uses_the_template_or_declared_shape():
    spec = MODALITIES.build(dict(type='pointcloud'))
    assert isinstance(spec, PointCloudModality) and spec.batch_mask_key == 'point_mask'
    entry = spec.collate([None, None])
    assert entry['points'].shape == (2, 1, 3) and not entry['point_mask'].any()
    assert not entry['present'].any()
    entry = spec.collate([None], template={'points': ((3,), torch.float64)})
    assert entry['points'].dtype == torch.float64


def test_feature_source_reads_pointcloud_feat():
    spec = MODALITIES.build(dict(type='pointcloud', source='feature'))
    assert spec.record_field == 'pointcloud_feat' and spec.batch_mask_key == 'feat_mask'
    entry = spec.collate([{'feats': torch.ones(2, 8)}, None])
    assert entry['feats'].shape == (2, 2, 8) and entry['feat_mask'].tolist() == [[True, True], [False, False]]


def test_dataset_batches_the_demo_point_clouds(pc_demo_root):
    dataset = ManifestDataset(data_root=str(pc_demo_root), split='train', tokenizer=dict(vocab_size=300),
                              modalities=dict(text=None, pointcloud=dict(pipeline=[
                                  dict(type='LoadPointCloud', num_points=64)])))
    batch = dataset.collate([dataset[i] for i in range(8)])
    entry = batch['pointcloud']
    present = [dataset.records[i]['fields']['pointcloud'] is not None for i in range(8)]
    assert entry['present'].tolist() == present
    assert entry['points'].shape == (8, 64, 3)
    assert torch.equal(entry['point_mask'], torch.tensor(present)[:, None].expand(8, 64))
    norms = entry['points'].norm(dim=-1)[entry['point_mask']]
    assert float(norms.max()) <= 1.0 + 1e-5
