"""Harmonizers: weights equal the formulas computed by hand, absent modalities excluded."""
import math

import pytest
import torch

from m5mm.registry import HARMONIZERS
from m5mm.structures import HarmonizerOutput

ORDER = ['text', 'image', 'table', 'audio']


def _inputs(batch=3, dim=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    emb = {m: torch.randn(batch, dim, generator=gen) for m in ORDER}
    present = {'text': torch.tensor([True, True, False]), 'image': torch.tensor([True, False, False]),
               'table': torch.tensor([True, True, True]), 'audio': torch.tensor([False, True, False])}
    return emb, present


def _cos(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def _cosine_graph_reference(emb, present):
    """Loops over samples and present modalities: C, R = C * softmax_row(C), row-L2 normalise."""
    batch, size = len(present[ORDER[0]]), len(ORDER)
    out = [[[0.0] * size for _ in range(size)] for _ in range(batch)]
    for b in range(batch):
        idx = [k for k, m in enumerate(ORDER) if present[m][b]]
        vec = {k: emb[ORDER[k]][b].tolist() for k in idx}
        for i in idx:
            c_row = {j: _cos(vec[i], vec[j]) for j in idx}
            z = sum(math.exp(c) for c in c_row.values())
            r_row = {j: c * math.exp(c) / z for j, c in c_row.items()}
            norm = math.sqrt(sum(r * r for r in r_row.values()))
            for j in idx:
                out[b][i][j] = r_row[j] / norm
    return torch.tensor(out)


def test_cosine_graph_matches_loops():
    emb, present = _inputs()
    harmonizer = HARMONIZERS.build(dict(type='CosineGraphHarmonizer'))
    out = harmonizer(emb, present)
    assert isinstance(out, HarmonizerOutput) and set(out.importance) == set(ORDER)
    weights = out.weights
    assert weights.shape == (3, 4, 4)
    torch.testing.assert_close(weights, _cosine_graph_reference(emb, present), atol=1e-5, rtol=1e-5)
    # sample 2 has only the table: a single weight 1 on (table, table)
    expected = torch.zeros(4, 4)
    expected[2, 2] = 1.0
    torch.testing.assert_close(weights[2], expected)


def test_cosine_graph_ignores_absent_embeddings_and_has_gradients():
    emb, present = _inputs()
    for m in ORDER:
        emb[m].requires_grad_(True)
    harmonizer = HARMONIZERS.build(dict(type='CosineGraphHarmonizer'))
    weights = harmonizer(emb, present).weights
    changed = {m: e.detach().clone() for m, e in emb.items()}
    changed['image'][1] += 100.0   # sample 1 has no image
    changed['audio'][0] -= 7.0     # sample 0 has no audio
    torch.testing.assert_close(harmonizer(changed, present).weights, weights.detach())
    weights.sum().backward()
    assert emb['text'].grad.abs().sum() > 0
    assert torch.all(emb['image'].grad[1] == 0) and torch.all(emb['audio'].grad[0] == 0)
    detached = HARMONIZERS.build(dict(type='CosineGraphHarmonizer', detach=True))(emb, present).weights
    assert not detached.requires_grad


def _learned_reference(scores, present, order, modalities):
    batch, size = len(present[order[0]]), len(order)
    out = torch.zeros(batch, size, size)
    for b in range(batch):
        idx = [k for k, m in enumerate(order) if present[m][b]]
        terms = [(i, j) for i in idx for j in idx if i <= j]
        raw = {}
        for i, j in terms:
            a, c = sorted((modalities.index(order[i]), modalities.index(order[j])))
            raw[(i, j)] = math.exp(float(scores.detach()[a, c]))
        z = sum(raw.values())
        for (i, j), v in raw.items():
            out[b, i, j] = out[b, j, i] = len(terms) * v / z
    return out


def test_learned_score_matches_loops_and_starts_uniform():
    emb, present = _inputs()
    modalities = ['image', 'text', 'audio', 'table']   # parameter order differs from the call order
    harmonizer = HARMONIZERS.build(dict(type='LearnedScoreHarmonizer', modalities=modalities))
    uniform = HARMONIZERS.build(dict(type='UniformHarmonizer'))
    torch.testing.assert_close(harmonizer(emb, present).weights, uniform(emb, present).weights)
    with torch.no_grad():
        harmonizer.scores.copy_(torch.randn(4, 4, generator=torch.Generator().manual_seed(3)))
    weights = harmonizer(emb, present).weights
    torch.testing.assert_close(weights, _learned_reference(harmonizer.scores, present, ORDER, modalities),
                               atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights, weights.transpose(1, 2))
    weights.sum().backward()
    assert harmonizer.scores.grad is not None
    with pytest.raises(ValueError, match='modalities'):
        HARMONIZERS.build(dict(type='LearnedScoreHarmonizer'))


def test_uniform_and_importance():
    emb, present = _inputs()
    harmonizer = HARMONIZERS.build(dict(type='UniformHarmonizer'))
    out = harmonizer(emb, present)
    weights = out.weights
    for b in range(3):
        for i, mi in enumerate(ORDER):
            for j, mj in enumerate(ORDER):
                assert weights[b, i, j] == float(bool(present[mi][b]) and bool(present[mj][b]))
    assert {m: float(v) for m, v in out.importance.items()} == {m: 1.0 for m in ORDER}
    assert not any(v.requires_grad for v in out.importance.values())
    # importance: mean over samples having m of the mean weight present rows give to m
    cosine = HARMONIZERS.build(dict(type='CosineGraphHarmonizer'))
    out = cosine(emb, present)
    weights = out.weights
    for k, m in enumerate(ORDER):
        vals = []
        for b in range(3):
            if present[m][b]:
                rows = [i for i, mi in enumerate(ORDER) if present[mi][b]]
                vals.append(sum(float(weights[b, i, k]) for i in rows) / len(rows))
        assert float(out.importance[m]) == pytest.approx(sum(vals) / len(vals), abs=1e-6)


def test_missing_presence_is_a_clear_error():
    emb, present = _inputs()
    del present['audio']
    with pytest.raises(KeyError, match='audio'):
        HARMONIZERS.build(dict(type='UniformHarmonizer'))(emb, present)
