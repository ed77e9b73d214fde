"""LoadPointCloud on real .npy / .ply files: normalisation, seeded sampling, bad files become absent."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from m5mm.datasets import ManifestDataset, MediaError, MediaReport
from m5mm.registry import TRANSFORMS
from m5mm_pointcloud import LoadPointCloud
from m5mm_pointcloud.point_cloud_io import read_point_file, write_ply


def _cloud(n: int = 300, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)) * [3.0, 1.0, 0.5] + [10.0, -4.0, 2.0]


def _load(path, seed: int = 7, **kwargs) -> torch.Tensor:
    return LoadPointCloud(**kwargs)(dict(path=str(path), seed=seed))['points']


def test_npy_is_centred_scaled_and_sampled(tmp_path):
    cloud = _cloud()
    np.save(tmp_path / 'a.npy', cloud)
    every = _load(tmp_path / 'a.npy', num_points=None).double().numpy()
    centred = cloud - cloud.mean(0)
    np.testing.assert_allclose(every, centred / np.linalg.norm(centred, axis=1).max(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(every, axis=1).max(), 1.0, rtol=1e-6)
    sampled = _load(tmp_path / 'a.npy', num_points=128)
    assert sampled.shape == (128, 3) and sampled.dtype == torch.float32
    rows = {tuple(np.round(r, 5)) for r in every}
    assert all(tuple(np.round(r, 5)) in rows for r in sampled.double().numpy())  # a subset of the points
    assert len({tuple(r) for r in sampled.tolist()}) == 128                     # without repeats


def test_sampling_follows_the_sample_seed(tmp_path):
    np.save(tmp_path / 'a.npy', _cloud())
    a, b, c = (_load(tmp_path / 'a.npy', seed=s, num_points=64) for s in (1, 1, 2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(KeyError, match='seed'):
        LoadPointCloud(num_points=64)(dict(path=str(tmp_path / 'a.npy')))


def test_small_clouds_keep_every_point_and_repeat_some(tmp_path):
    cloud = _cloud(10)
    np.save(tmp_path / 'small.npy', cloud)
    points = _load(tmp_path / 'small.npy', num_points=32).double().numpy()
    every = _load(tmp_path / 'small.npy', num_points=None).double().numpy()
    assert points.shape == (32, 3)
    assert {tuple(np.round(r, 5)) for r in points} == {tuple(np.round(r, 5)) for r in every}


def test_ascii_ply_with_extra_properties_faces_and_comments(tmp_path):
    cloud = _cloud(50)
    np.save(tmp_path / 'a.npy', cloud)
    write_ply(str(tmp_path / 'plain.ply'), cloud)
    np.testing.assert_allclose(read_point_file(str(tmp_path / 'plain.ply')), cloud, atol=1e-5)
    lines = ['ply', 'format ascii 1.0', 'comment made by hand', 'element vertex 50', 'property float nx',
             'property double z', 'property float x', 'property float y', 'property uchar red',
             'element face 2', 'property list uchar int vertex_indices', 'end_header']
    lines += [f'0.1 {z} {x} {y} 255' for x, y, z in cloud] + ['3 0 1 2', '3 1 2 3']
    (tmp_path / 'rich.ply').write_text('\n'.join(lines) + '\n')
    expected = _load(tmp_path / 'a.npy', num_points=40)
    torch.testing.assert_close(_load(tmp_path / 'rich.ply', num_points=40), expected, atol=1e-5, rtol=1e-5)


def test_extra_columns_and_non_finite_points(tmp_path):
    cloud = np.concatenate([_cloud(20), np.ones((20, 3))], axis=1)  # xyz + normals
    cloud[3, 1] = np.nan
    np.save(tmp_path / 'a.npy', cloud)
    points = _load(tmp_path / 'a.npy', num_points=None)
    assert points.shape == (19, 3)
    finite = np.delete(cloud[:, :3], 3, axis=0)
    np.testing.assert_allclose(points.numpy().mean(0), (finite - finite.mean(0)).mean(0), atol=1e-6)


BAD_FILES = {
    'missing.npy': (None, 'missing file'),
    'empty.npy': (b'', 'empty file'),
    'truncated.npy': ('truncated', 'corrupt point cloud'),
    'flat.npy': (np.zeros((10, 2)), 'corrupt point cloud'),
    'words.npy': (np.array(['a', 'b']), 'corrupt point cloud'),
    'nan.npy': (np.full((5, 3), np.nan), 'empty point cloud'),
    'same.npy': (np.ones((5, 3)), 'corrupt point cloud'),
    'garbage.ply': (b'not a ply file\n1 2 3\n', 'corrupt point cloud'),
    'short.ply': (b'ply\nformat ascii 1.0\nelement vertex 5\nproperty float x\nproperty float y\n'
                  b'property float z\nend_header\n1 2 3\n', 'corrupt point cloud'),
    'binary.ply': (b'ply\nformat binary_little_endian 1.0\nelement vertex 1\nproperty float x\nend_header\n',
                   'unsupported point cloud'),
    'cloud.xyz': (b'1 2 3\n', 'unsupported point cloud'),
}


def _write_bad(path, content) -> None:
    if content is None:
        return
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        np.save(path, _cloud(100))
        path.write_bytes(path.read_bytes()[:100])
    else:
        np.save(path, content)


@pytest.mark.parametrize('name', BAD_FILES)
def test_bad_files_raise_media_error_with_a_short_reason(tmp_path, name):
    content, reason = BAD_FILES[name]
    _write_bad(tmp_path / name, content)
    with pytest.raises(MediaError) as err:
        _load(tmp_path / name, num_points=16)
    assert err.value.reason == reason


def test_too_few_points_and_bad_arguments(tmp_path):
    np.save(tmp_path / 'a.npy', _cloud(5))
    with pytest.raises(MediaError, match='too few points'):
        _load(tmp_path / 'a.npy', min_points=8)
    with pytest.raises(ValueError, match='num_points'):
        LoadPointCloud(num_points=0)
    assert isinstance(TRANSFORMS.build(dict(type='LoadPointCloud', num_points=8)), LoadPointCloud)


def test_dataset_makes_bad_clouds_absent_and_counts_them(tmp_path):
    (tmp_path / 'pc').mkdir()
    np.save(tmp_path / 'pc' / 'good.npy', _cloud(40))
    write_ply(str(tmp_path / 'pc' / 'good.ply'), _cloud(30, seed=1))
    _write_bad(tmp_path / 'pc' / 'bad.npy', 'truncated')
    records = [dict(id='a', pointcloud='pc/good.npy'), dict(id='b', pointcloud='pc/good.ply'),
               dict(id='c', pointcloud='pc/bad.npy'), dict(id='d', pointcloud='pc/missing.npy'),
               dict(id='e', pointcloud=None), dict(id='f', pointcloud='../outside.npy')]
    (tmp_path / 'manifest.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in records))
    pipeline = [dict(type='LoadPointCloud', num_points=16)]
    dataset = ManifestDataset(data_root=str(tmp_path), split=None, tokenizer=None,
                              modalities=dict(pointcloud=dict(pipeline=pipeline)))
    samples = [dataset[i] for i in range(len(dataset))]
    assert [s['pointcloud'] is not None for s in samples] == [True, True, False, False, False, False]
    assert samples[0]['pointcloud']['points'].shape == (16, 3)
    report = MediaReport()
    report.update(dataset.collate(samples)['meta'])
    assert report.as_dict() == {'pointcloud': {'corrupt point cloud': 1, 'missing file': 1,
                                               'path escapes data root': 1}}
