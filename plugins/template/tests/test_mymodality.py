"""TODO(plugin): test your transform on real files, the collate, and the encoder's masks."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from m5mm.datasets import ManifestDataset, MediaError
from m5mm.models.param_budget import config_budget
from m5mm.registry import ENCODERS, MODALITIES
from m5mm_mymodality import LoadMySignal, MyModality

CONFIG = Path(__file__).resolve().parents[1] / 'configs' / 'scale_tiny_mymodality.py'


def test_transform_reads_real_files_and_rejects_bad_ones(tmp_path):
    np.save(tmp_path / 'a.npy', np.arange(30, dtype=np.float32).reshape(10, 3))
    values = LoadMySignal(max_length=8)(dict(path=str(tmp_path / 'a.npy'), seed=0))['values']
    assert values.shape == (8, 3)
    torch.testing.assert_close(values.mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    (tmp_path / 'bad.npy').write_bytes(b'not an array')
    with pytest.raises(MediaError, match='corrupt signal'):
        LoadMySignal()(dict(path=str(tmp_path / 'bad.npy'), seed=0))


def test_dataset_collates_the_modality_and_counts_bad_files(tmp_path):
    np.save(tmp_path / 'a.npy', np.random.default_rng(0).normal(size=(6, 3)))
    records = [dict(id='a', mymodality='a.npy'), dict(id='b', mymodality='missing.npy'), dict(id='c')]
    (tmp_path / 'manifest.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in records))
    dataset = ManifestDataset(data_root=str(tmp_path), split=None, tokenizer=None,
                              modalities=dict(mymodality=None))
    batch = dataset.collate([dataset[i] for i in range(3)])
    assert isinstance(MODALITIES.build(dict(type='mymodality')), MyModality)
    assert batch['mymodality']['present'].tolist() == [True, False, False]
    assert batch['mymodality']['values'].shape == (3, 6, 3)
    assert batch['meta']['errors'][1] == {'mymodality': 'missing file'}


def test_encoder_masks_absent_samples():
    torch.manual_seed(0)
    encoder = ENCODERS.build(dict(type='MySignalEncoder', channels=3, patch_len=4, max_tokens=8, dim=16,
                                  depth=1, num_heads=2)).eval()
    present = torch.tensor([True, False])
    entry = {'values': torch.randn(2, 8, 3) * present[:, None, None],
             'value_mask': present[:, None].repeat(1, 8), 'present': present}
    out = encoder(entry, mask_ratio=0.5)
    assert out.tokens.shape == (2, 3, 16) and out.mask.tolist() == [[True] * 3, [False] * 3]
    assert out.targets.shape == (2, 3, encoder.target_dim) and out.masked[0].sum() == 1
    scrambled = dict(entry, values=torch.where(present[:, None, None], entry['values'], torch.randn(2, 8, 3)))
    torch.manual_seed(1)
    a = encoder(entry)
    torch.manual_seed(1)
    b = encoder(scrambled)
    torch.testing.assert_close(a.tokens, b.tokens)


def test_config_builds_six_modalities():
    budget = config_budget(str(CONFIG))
    assert budget['modalities'][-1] == 'mymodality' and budget['total'] > 0
