"""Preprocessed shards of a data folder train with the config given at build time (README's recipe)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from m5mm.datasets.shards.command import make_shards
from m5mm.registry import DATASETS
from m5mm.utils.config import load_config

from .media_files import build_data_root

TINY = str(Path(__file__).resolve().parents[2] / 'configs' / 'scale_5mod_tiny.py')


@pytest.fixture()
def folder(tmp_path, tokenizer_dir) -> Path:
    """The real-media data root (9 products, some media broken) with its tokenizer, as a config reads it."""
    root = build_data_root(tmp_path / 'data')
    shutil.copytree(tokenizer_dir, root / 'tokenizer')
    return root


def test_preprocessing_a_data_folder_without_the_config_is_refused_naming_the_flag(folder, tmp_path):
    with pytest.raises(ValueError, match=r'needs the training config.*--config CONFIG'):
        make_shards(str(folder), out=str(tmp_path / 'shards'), preprocess='image', log=lambda line: None)
    assert not (tmp_path / 'shards').exists()


def test_shards_preprocessed_from_a_folder_with_config_train_with_that_config(folder, tmp_path):
    out = tmp_path / 'shards'
    result = make_shards(str(folder), out=str(out), preprocess='image', config=TINY, log=lambda line: None)
    assert result['samples'] == 9 and result['index']
    demo_root = folder
    cfg = load_config(TINY, dict(data_root=str(out)))
    dataset = DATASETS.build(cfg.train_dataloader.dataset.to_dict())
    assert type(dataset).__name__ == 'ShardedDataset'
    reference = DATASETS.build(load_config(TINY, dict(data_root=str(demo_root))).train_dataloader.dataset.to_dict())
    assert len(dataset) == len(reference)
    got = next(iter(dataset))
    expected = reference[[reference.record(i)['id'] for i in range(len(reference))].index(got['id'])]
    assert got['image'].keys() == expected['image'].keys()
    for key, value in expected['image'].items():
        assert torch.equal(got['image'][key], value), key
    assert max(v.shape[-1] for v in got['image'].values() if v.dim() == 3) == 64   # the config's size 64
