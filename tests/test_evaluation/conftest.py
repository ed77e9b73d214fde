"""Tiny fixtures for the evaluation tests: a model honouring the extract_features contract."""
import numpy as np
import pytest
import torch
from torch import nn


class TinyFeatureModel(nn.Module):
    """Mean-pools each modality's ``feats`` (B, N, F) and projects it; follows docs/concepts.md."""

    def __init__(self, dims, width=3):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.proj = nn.ModuleDict({m: nn.Linear(f, width) for m, f in dims.items()})
        for lin in self.proj.values():
            nn.init.normal_(lin.weight, generator=gen)
        self.calls = []

    def extract_features(self, batch):
        pooled, present = {}, {}
        for m, lin in self.proj.items():
            entry = batch[m]
            mask = entry['feat_mask'].unsqueeze(-1).float()
            pooled[m] = lin((entry['feats'] * mask).sum(1) / mask.sum(1).clamp_min(1))
            present[m] = entry['present']
        self.calls.append({m: present[m].clone() for m in present})
        fused = {m: 2 * pooled[m] + 1 for m in pooled}
        weights = torch.stack([present[m].float() for m in fused])
        joint = (torch.stack(list(fused.values())) * weights.unsqueeze(-1)).sum(0)
        joint = joint / weights.sum(0).clamp_min(1)[:, None]
        return {'joint': joint, 'fused': fused, 'pooled': pooled, 'present': present}


def make_samples(n=11, dims=None, seed=0):
    dims = dims or {'image': 4, 'text': 5}
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        sample = {'id': f'p{i}', 'index': i, 'category': i % 3, 'instance': i // 2}
        for m, f in dims.items():
            absent = rng.random() < 0.3
            length = int(rng.integers(1, 4))
            sample[m] = None if absent else torch.from_numpy(rng.normal(size=(length, f))).float()
        samples.append(sample)
    return samples, dims


def collate(samples, dims):
    batch = {}
    for m, f in dims.items():
        n_max = max([s[m].shape[0] for s in samples if s[m] is not None], default=1)
        feats = torch.zeros(len(samples), n_max, f)
        mask = torch.zeros(len(samples), n_max, dtype=torch.bool)
        for b, s in enumerate(samples):
            if s[m] is not None:
                feats[b, :len(s[m])] = s[m]
                mask[b, :len(s[m])] = True
        present = torch.tensor([s[m] is not None for s in samples])
        batch[m] = {'feats': feats, 'feat_mask': mask, 'present': present}
    batch['meta'] = {'ids': [s['id'] for s in samples], 'index': torch.tensor([s['index'] for s in samples]),
                     'category': torch.tensor([s['category'] for s in samples]),
                     'instance': torch.tensor([s['instance'] for s in samples]),
                     'split': ['test'] * len(samples)}
    return batch


@pytest.fixture
def tiny_data():
    samples, dims = make_samples()
    return samples, dims, TinyFeatureModel(dims)
