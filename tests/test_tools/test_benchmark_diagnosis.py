"""m5mm.experiments.paper_tables.diagnosis: the combined sources and harmonizer statistics against hand computations."""
import torch

from m5mm.experiments.paper_tables.diagnosis import _harmonizer_stats, _sources

MODS = ['text', 'image', 'audio']


def _data():
    gen = torch.Generator().manual_seed(0)
    data = {'joint': torch.randn(4, 3, generator=gen)}
    for m in MODS:
        data[f'pooled:{m}'] = torch.randn(4, 3, generator=gen)
        data[f'fused:{m}'] = torch.randn(4, 3, generator=gen)
        data[f'present:{m}'] = torch.tensor([True, True, m != 'audio', True])
    data['weights:fused'] = torch.randn(4, 3, 3, generator=gen)
    return data


def test_centered_and_leave_one_out_joints():
    data = _data()
    centre = {m: torch.full((3,), float(k)) for k, m in enumerate(MODS)}
    out = _sources(data, MODS, centre)
    b = 2                                                                   # a sample without audio
    expected = ((data['fused:text'][b] - 0) + (data['fused:image'][b] - 1)) / 2
    assert torch.allclose(out['joint_centered'][b], expected)
    assert torch.allclose(out['joint_without:text'][b], data['fused:image'][b])
    assert torch.equal(out['pooled:audio'][b], torch.zeros(3))             # absent: a zero vector
    w = data['weights:fused'][0]
    share = w.mean(dim=0).clamp_min(0)                                      # all present: mean over rows
    expected = sum(share[k] * data[f'fused:{m}'][0] for k, m in enumerate(MODS)) / share.sum()
    assert torch.allclose(out['joint_weighted'][0], expected, atol=1e-6)


def test_harmonizer_stats_count_negative_off_diagonal_weights():
    data = _data()
    stats = _harmonizer_stats(data, MODS, temperature=0.07)['fused']
    present = torch.stack([data[f'present:{m}'] for m in MODS], dim=1)
    values = [float(data['weights:fused'][b, i, j]) for b in range(4) for i in range(3) for j in range(3)
              if i != j and present[b, i] and present[b, j]]
    assert stats['negative_share'] == round(sum(v < 0 for v in values) / len(values), 4)
    assert stats['mean'] == round(sum(values) / len(values), 4)
    assert 'embeddings' not in _harmonizer_stats(data, MODS, temperature=0.07)
