import numpy as np
import pytest
import torch

from m5mm.evaluation.topk import as_feature_tensor, exact_topk


def _stable_reference(q, g, k, exclude=()):
    scores = (q.double() @ g.double().T)
    for r, c in exclude:
        scores[r, c] = float('-inf')
    order = scores.argsort(dim=1, descending=True, stable=True)[:, :k]
    return scores.gather(1, order), order


@pytest.mark.parametrize('qc,gc', [(1024, 65536), (3, 7), (1, 1), (5, 16)])
def test_exact_topk_matches_stable_sort_with_many_ties(qc, gc):
    gen = torch.Generator().manual_seed(0)
    q = torch.randint(-1, 2, (23, 4), generator=gen).float()
    g = torch.randint(-1, 2, (57, 4), generator=gen).float()
    s, i = exact_topk(q, g, 12, query_chunk=qc, gallery_chunk=gc)
    rs, ri = _stable_reference(q, g, 12)
    assert torch.equal(i, ri)
    assert torch.allclose(s.double(), rs)


def test_exact_topk_exclusion_and_k_larger_than_gallery():
    gen = torch.Generator().manual_seed(1)
    q, g = torch.randn(6, 8, generator=gen), torch.randn(5, 8, generator=gen)
    pairs = [(0, 2), (3, 0), (3, 4)]
    excl = (torch.tensor([p[0] for p in pairs]), torch.tensor([p[1] for p in pairs]))
    s, i = exact_topk(q, g, 10, exclude=excl, query_chunk=4, gallery_chunk=2)
    assert s.shape == (6, 5)
    rs, ri = _stable_reference(q, g, 10, pairs)
    assert torch.equal(i, ri)
    assert torch.isneginf(s[3, -2:]).all() and torch.isneginf(s[0, -1])
    assert set(i[3, :3].tolist()) == {1, 2, 3}


def test_as_feature_tensor_rejects_bad_input():
    with pytest.raises(ValueError, match='NaN or infinite'):
        as_feature_tensor(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match='2-D'):
        as_feature_tensor(np.zeros(3))
    with pytest.raises(TypeError, match='floating point'):
        as_feature_tensor(np.zeros((2, 2), dtype=np.int64))
