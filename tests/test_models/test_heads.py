"""Heads: reference computations, tying, absent modalities in classification."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from m5mm.registry import HEADS


def test_projection_head():
    head = HEADS.build(dict(type='ProjectionHead', in_dim=8, out_dim=4, activation='relu'))
    x = torch.randn(3, 8)
    lin = head.net[0]
    torch.testing.assert_close(head(x), F.relu(x @ lin.weight.t() + lin.bias))
    normed = HEADS.build(dict(type='ProjectionHead', in_dim=8, out_dim=4, hidden_dim=6, normalize=True))
    torch.testing.assert_close(normed(x).norm(dim=-1), torch.ones(3))
    with pytest.raises(ValueError, match='activation'):
        HEADS.build(dict(type='ProjectionHead', in_dim=8, out_dim=4, activation='tanh'))


def test_masked_token_head_is_tied():
    embedding = nn.Embedding(20, 6)
    head = HEADS.build(dict(type='MaskedTokenHead', dim=8, vocab_size=18, embedding=embedding))
    assert head.decoder.weight is embedding.weight
    x = torch.randn(5, 8)
    dense, norm = head.transform[0], head.transform[2]
    h = F.layer_norm(F.gelu(dense(x)), (6,), norm.weight, norm.bias)
    torch.testing.assert_close(head(x), h @ embedding.weight.t() + head.bias)
    head(x).sum().backward()
    assert embedding.weight.grad is not None
    free = HEADS.build(dict(type='MaskedTokenHead', dim=8, vocab_size=11, transform=False))
    assert free(x).shape == (5, 11) and not free.tied
    with pytest.raises(ValueError, match='exceeds'):
        HEADS.build(dict(type='MaskedTokenHead', dim=8, vocab_size=30, embedding=embedding))


def test_feature_regression_head():
    head = HEADS.build(dict(type='FeatureRegressionHead', dim=8, out_dim=5))
    assert head(torch.randn(2, 3, 8)).shape == (2, 3, 5)


def test_classification_head_zero_indicator():
    mods = ['image', 'text', 'table']
    head = HEADS.build(dict(type='ClassificationHead', in_dim=4, modalities=mods, num_classes=3,
                            hidden_dim=16))
    head.eval()
    fused = {m: torch.randn(2, 4) for m in mods}
    present = {'image': torch.tensor([True, False]), 'text': torch.tensor([True, True]),
               'table': torch.tensor([False, True])}
    logits = head(fused, present)
    assert logits.shape == (2, 3)
    # reference: concat (zeroed when absent) + present flags -> MLP
    for b in range(2):
        parts = [fused[m][b] if present[m][b] else torch.zeros(4) for m in mods]
        x = torch.cat(parts + [torch.tensor([float(present[m][b]) for m in mods])])
        torch.testing.assert_close(logits[b], head.net(x))
    fused['image'][1] = 100.0                           # absent: no effect
    fused['table'][0] = -100.0
    torch.testing.assert_close(head(fused, present), logits)


def test_classification_head_masked_mean():
    mods = ['image', 'text']
    head = HEADS.build(dict(type='ClassificationHead', in_dim=4, modalities=mods, num_classes=2, hidden_dim=8,
                            absent_mode='masked_mean')).eval()
    fused = {m: torch.randn(2, 4) for m in mods}
    present = {'image': torch.tensor([True, False]), 'text': torch.tensor([True, True])}
    logits = head(fused, present)
    torch.testing.assert_close(logits[0], head.net((fused['image'][0] + fused['text'][0]) / 2))
    torch.testing.assert_close(logits[1], head.net(fused['text'][1]))
