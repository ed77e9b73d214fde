"""The shipped base dataset configs load, build and produce batches."""
import json
import os
import shutil

import numpy as np
import pytest
from mmengine.config import Config

from m5mm.registry import DATASETS

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG_DIR = os.path.join(REPO, 'configs', '_base_', 'datasets')


def load(name):
    return Config.fromfile(os.path.join(CONFIG_DIR, name))


@pytest.mark.parametrize('name', ['demo_5mod.py', 'm5product.py'])
def test_config_shape(name):
    cfg = load(name)
    for key, split in (('train_dataloader', 'train'), ('val_dataloader', 'val'),
                       ('test_dataloader', ['query', 'gallery'])):
        loader = cfg[key]
        assert loader.batch_size > 0 and loader.num_workers >= 0
        assert loader.dataset.split == split and loader.dataset.data_root == cfg.data_root
        assert set(loader.dataset.modalities) == {'image', 'text', 'table', 'video', 'audio'}


def test_demo_config_builds_and_batches(tmp_path):
    pytest.importorskip('m5mm.experiments.catalogues.demo')
    cfg = load('demo_5mod.py')
    root = str(tmp_path / 'demo')
    datasets = {}
    for key in ('train_dataloader', 'test_dataloader'):
        dataset_cfg = cfg[key].dataset.to_dict()
        dataset_cfg.update(data_root=root,
                           generate_if_missing=dict(type='demo', num_products=24, seed=0, num_categories=3))
        datasets[key] = DATASETS.build(dataset_cfg)
    train = datasets['train_dataloader']
    assert train.meta['categories'] == datasets['test_dataloader'].meta['categories']
    batch = train.collate([train[i] for i in range(min(len(train), 4))])
    assert batch['image']['pixels'].shape[1:] == (3, 64, 64)
    assert batch['video']['frames'].shape[2:] == (3, 64, 64) and batch['video']['frames'].shape[1] <= 4
    assert batch['audio']['mel'].shape[-1] == 80 and batch['audio']['mel'].shape[1] <= 1 + 4 * 16000 // 256
    assert batch['text']['input_ids'].shape[1] <= 36 and batch['table']['input_ids'].shape[1] <= 64


def test_m5product_config_builds_on_the_release_layout(data_root, tmp_path):
    cfg = load('m5product.py')
    root = tmp_path / 'm5'
    for folder in ('image', 'video', 'audio'):
        (root / folder).mkdir(parents=True)
    shutil.copy(data_root / 'images/p0.jpg', root / 'image/a.jpg')
    np.save(root / 'video/a.npy', np.ones((20, 8), np.float32))
    shutil.copy(data_root / 'audio/p0.wav', root / 'audio/b.wav')
    entries = {'train_meta.json': {'a': {'title': '红色 T恤', 'pv': '颜色#:#红色', 'label': '服装'},
                                   'b': {'title': '不锈钢 水杯', 'pv': '容量#:#500ml', 'label': '厨房'}},
               'val_meta.json': {}, 'query_meta.json': {'c': {'title': '红色 T恤', 'pv': '', 'label': '服装'}},
               'gallery_meta.json': {}}
    for name, content in entries.items():
        (root / name).write_text(json.dumps(content, ensure_ascii=False), encoding='utf-8')
    dataset_cfg = cfg.train_dataloader.dataset.to_dict()
    dataset_cfg.update(data_root=str(root), tokenizer=dict(path=None, vocab_size=100))
    ds = DATASETS.build(dataset_cfg)
    assert len(ds) == 2 and ds.meta['categories'] == ['厨房', '服装']
    batch = ds.collate([ds[0], ds[1]])
    assert batch['image']['pixels'].shape == (2, 3, 224, 224)
    assert batch['video']['feat_mask'].sum(1).tolist() == [12, 0]  # S3D features cut to 12 clips
    assert batch['audio']['present'].tolist() == [False, True]
    assert ds.tokenizer.unk_id not in batch['text']['input_ids'][0].tolist()
