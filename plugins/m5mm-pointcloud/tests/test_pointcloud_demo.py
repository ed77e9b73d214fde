"""The demo extension: clouds follow the category's shape, the manifest is rewritten once, atomically."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from m5mm.experiments.catalogues.demo import make_demo_dataset
from m5mm.utils.build import ConfigKeyError
from m5mm_pointcloud import PointCloudDemoDataset, make_demo
from m5mm_pointcloud.demo import PRIMITIVES, add_pointclouds, category_primitive, sample_primitive
from m5mm_pointcloud.demo.extend import BACKUP, render_point_cloud


def _records(root):
    return [json.loads(line) for line in (root / 'manifest.jsonl').read_text().splitlines() if line]


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_record_gets_a_cloud_of_its_category_or_a_null(pc_demo_root):
    records = _records(pc_demo_root)
    marker = json.loads((pc_demo_root / 'pointclouds' / 'extension.json').read_text())
    summary = marker['summary']
    wrong = set(summary['wrong_primitive'])
    assert all('pointcloud' in r for r in records) and summary['num_records'] == len(records) == 80
    missing = [r for r in records if r['pointcloud'] is None]
    assert len(missing) == summary['missing'] and 3 <= len(missing) <= 16          # ~10%
    assert 1 <= len(wrong) <= 16                                                     # ~10%
    for r in records:
        if r['pointcloud'] is None:
            continue
        cloud = np.load(pc_demo_root / r['pointcloud'])
        assert cloud.dtype == np.float32 and cloud.ndim == 2 and cloud.shape[1] == 3
        assert 384 <= len(cloud) <= 1024 and np.isfinite(cloud).all()
    # the primitive follows the category (the demo's shapes differ between categories)
    primitives = {category_primitive(r['category']) for r in records}
    assert len(primitives) >= 4 and primitives <= set(PRIMITIVES)
    assert category_primitive('teapot') == 'cube' and category_primitive('sneakers') == 'sphere'
    assert category_primitive('not a demo category') in PRIMITIVES


def test_shape_descriptor_separates_the_primitives():
    """The clouds carry category information: a nearest-centroid rule on a histogram of the distances
    to the median point recognises the primitive of held-out clouds (chance: 1/6)."""
    def descriptor(points):
        radii = np.linalg.norm(points - np.median(points, axis=0), axis=1)
        return np.histogram(radii / np.median(radii), bins=12, range=(0, 2.4), density=True)[0]

    def clouds(seed):
        return {p: [descriptor(render_point_cloud(primitive=p, seed=seed, record_id=f'r{i}',
                                                  instance=f's{i}')) for i in range(8)] for p in PRIMITIVES}

    centroids = {p: np.mean(v, axis=0) for p, v in clouds(0).items()}
    test = clouds(1)

    def nearest(d):
        return min(centroids, key=lambda c: np.linalg.norm(d - centroids[c]))

    hits = [nearest(d) == p for p, descriptors in test.items() for d in descriptors]
    assert np.mean(hits) >= 0.8


def test_second_call_is_a_no_op_and_the_original_is_backed_up(tmp_path):
    root = tmp_path / 'demo'
    make_demo_dataset(root, num_products=40, seed=1, num_categories=4)
    original = (root / 'manifest.jsonl').read_text()
    first = add_pointclouds(root, seed=3)
    assert (root / BACKUP).read_text() == original
    digest, stamp = _digest(root / 'manifest.jsonl'), (root / 'manifest.jsonl').stat().st_mtime_ns
    assert add_pointclouds(root, seed=3) == first
    assert (root / 'manifest.jsonl').stat().st_mtime_ns == stamp
    # other options redo it, keeping the pre-extension backup; the same options give the same bytes
    add_pointclouds(root, seed=4)
    assert _digest(root / 'manifest.jsonl') != digest and (root / BACKUP).read_text() == original
    add_pointclouds(root, seed=3)
    assert _digest(root / 'manifest.jsonl') == digest
    assert not list(root.glob('*.tmp')) and not list((root / 'pointclouds').glob('*.tmp'))
    stripped = [{k: v for k, v in r.items() if k != 'pointcloud'} for r in _records(root)]
    assert stripped == [json.loads(line) for line in original.splitlines()]


def test_malformed_lines_are_kept_and_rates_are_validated(tmp_path):
    (tmp_path / 'manifest.jsonl').write_text('{"id": "a", "category": "teapot"}\nnot json\n\n')
    summary = add_pointclouds(tmp_path, missing_rate=0.0, factor_noise_rate=0.0)
    lines = (tmp_path / 'manifest.jsonl').read_text().splitlines()
    assert lines[1:] == ['not json', ''] and summary == dict(num_records=1, with_pointcloud=1, missing=0,
                                                             wrong_primitive=[], primitives={'cube': 1})
    with pytest.raises(ValueError, match='missing_rate'):
        add_pointclouds(tmp_path, missing_rate=1.5)
    with pytest.raises(FileNotFoundError, match='make_demo_data'):
        add_pointclouds(tmp_path / 'nothing')


def test_make_demo_command(tmp_path, capsys):
    root = tmp_path / 'fresh'
    for args, message in (([], 'make_demo_data'), (['--generate', '24'], 'too small for 12 categories')):
        with pytest.raises(SystemExit) as exit_info:
            make_demo.main([str(root), *args])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    command = [sys.executable, '-m', 'm5mm_pointcloud.make_demo', str(root), '--generate', '24',
               '--categories', '4', '--missing-rate', '0']
    run = subprocess.run(command, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert '24 of 24 records have a point cloud' in run.stdout
    assert all(r['pointcloud'] for r in _records(root))


def test_demo_dataset_generates_a_fresh_root_and_checks_its_keys(tmp_path):
    root = tmp_path / 'fresh'
    dataset = PointCloudDemoDataset(data_root=str(root), split=None, tokenizer=None,
                                    generate_if_missing=dict(type='demo', num_products=24, seed=0, num_categories=4),
                                    modalities=dict(pointcloud=None))
    assert len(dataset) == 24 and (root / 'pointclouds' / 'extension.json').is_file()
    counts = Counter(r['fields']['pointcloud'] is not None for r in dataset.records)
    assert counts[True] >= 18
    with pytest.raises(ConfigKeyError, match="Did you mean 'split'"):
        PointCloudDemoDataset(data_root=str(root), splt='train')


def test_primitive_sampler_rejects_unknown_names():
    with pytest.raises(ValueError, match='unknown primitive'):
        sample_primitive(np.random.default_rng(0), 'pyramid', 10)
