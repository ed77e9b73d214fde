"""Six-modality SCALE training from the plugin's configs, on a fresh data root and on a prepared one."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from mmengine.config import Config

from m5mm.engine import build_dataset, run_training
from m5mm.models.builders import build_model
from m5mm.models.param_budget import config_budget
from m5mm.registry import ENCODERS
from m5mm.utils.config import load_config
from m5mm_pointcloud import PointCloudDemoDataset
from pointcloud_test_utils import PLUGIN_ROOT

SIX = {'image', 'text', 'table', 'video', 'audio', 'pointcloud'}


def _fresh_root_options(root) -> dict:
    return {f'{loader}.dataset.data_root': str(root)
            for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')}


@pytest.mark.slow
def test_six_modalities_train_from_a_fresh_data_root(tiny6_config, tmp_path):
    work_dir = tmp_path / 'run'
    options = {**_fresh_root_options(tmp_path / 'fresh'), 'train_cfg.max_epochs': 3,
               'optim.optimizer.lr': 2e-3}
    trainer = run_training(tiny6_config, work_dir=str(work_dir), cfg_options=options)
    assert (tmp_path / 'fresh' / 'pointclouds' / 'extension.json').is_file()   # generated on first use
    records = [json.loads(line) for line in (work_dir / 'metrics.jsonl').read_text().splitlines()]
    assert len(records) == trainer.total_steps
    for key in ('loss', 'loss_con', 'loss_mfm_pointcloud', 'weight_pointcloud', 'con_text_pointcloud'):
        assert all(torch.isfinite(torch.tensor(r[key])) for r in records), key
    per_epoch = {}
    for r in records:
        per_epoch.setdefault(r['epoch'], []).append((r['loss'], r['loss_mfm_pointcloud']))
    first, last = per_epoch[0], per_epoch[max(per_epoch)]
    mean = lambda rows, k: sum(row[k] for row in rows) / len(rows)  # noqa: E731
    assert mean(last, 0) < mean(first, 0), 'the total loss did not go down'
    assert mean(last, 1) < mean(first, 1), 'the masked point-cloud loss did not go down'
    weights = json.loads((work_dir / 'modality_weights.json').read_text())
    assert len(weights) == 3 and all(set(w['weights']) == SIX for w in weights)
    assert all(w['weights']['pointcloud'] > 0 for w in weights)
    model = trainer.accelerator.unwrap_model(trainer.model)
    assert model.modalities == ['image', 'text', 'table', 'video', 'audio', 'pointcloud']


def test_a_prepared_data_root_and_the_paper_size_config(pc_demo_root):
    cfg = load_config(str(PLUGIN_ROOT / 'configs' / 'scale_6mod_tiny.py'), {'data_root': str(pc_demo_root)})
    dataset = build_dataset(cfg.train_dataloader.dataset)   # a plain manifest reader: nothing is generated
    assert isinstance(dataset, PointCloudDemoDataset) and dataset.meta['modalities'][-1] == 'pointcloud'
    batch = dataset.collate([dataset[i] for i in range(4)])
    assert batch['pointcloud']['points'].shape == (4, 256, 3)
    torch.manual_seed(0)
    out = build_model(cfg.model, dataset.meta)(batch)
    assert torch.isfinite(out['loss_mfm_pointcloud']) and 'weight_pointcloud' in out
    budget = config_budget(str(PLUGIN_ROOT / 'configs' / 'scale_6mod.py'))   # builds the paper-size model
    assert budget['modalities'] == ['image', 'text', 'table', 'video', 'audio', 'pointcloud']
    assert budget['total'] > 200e6
    cfg = Config.fromfile(str(PLUGIN_ROOT / 'configs' / 'scale_6mod.py'))
    assert set(cfg.train_dataloader.dataset.modalities) == SIX
    encoder = ENCODERS.build(cfg.model.encoders.pointcloud)
    assert encoder.dim == 768 and encoder.num_groups == 64 and encoder.target_dim == 96


def test_a_run_with_the_plugin_modality_loads_from_its_config_json(tiny6_config, pc_demo_root, tmp_path):
    from m5mm.api import ProductEncoder
    work_dir = tmp_path / 'run'
    run_training(tiny6_config, work_dir=str(work_dir), max_steps=1,
                 cfg_options={'data_root': str(pc_demo_root),
                              'hooks': [dict(type='CheckpointHook', by_epoch=True, max_keep=1)]})
    saved = json.loads((work_dir / 'checkpoints' / 'step_00000001' / 'config.json').read_text())
    assert saved['model']['encoders']['pointcloud']['type'] == 'PointCloudEncoder' and 'custom_imports' not in saved
    encoder = ProductEncoder.from_pretrained(work_dir, device='cpu')   # registered through the entry point only
    assert encoder.model.modalities == ['image', 'text', 'table', 'video', 'audio', 'pointcloud']
    record = json.loads((pc_demo_root / 'manifest.jsonl').read_text().splitlines()[0])
    only_points = encoder.encode([record], data_root=str(pc_demo_root), modalities=['pointcloud'], progress=False)
    assert only_points.present['pointcloud'].all() and np.isfinite(only_points.features).all()
