import math

import numpy as np
import pytest

from m5mm.evaluation import retrieval_metrics

from .reference import retrieval_reference

KS = (1, 5, 10, 50, 100)


def _random_case(seed, nq=30, ng=80, dim=5, ncls=6, shared_ids=10):
    rng = np.random.default_rng(seed)
    q = rng.integers(-2, 3, size=(nq, dim)).astype(np.float32)  # small ints: exact scores, many ties
    g = rng.integers(-2, 3, size=(ng, dim)).astype(np.float32)
    ql = rng.integers(-1, ncls, size=nq)
    gl = rng.integers(-1, ncls, size=ng)
    gids = [f'g{j}' for j in range(ng)]
    qids = [gids[j] if j < shared_ids else f'q{j}' for j in range(nq)]  # some queries are in the gallery
    for j in range(shared_ids):
        g[j], gl[j] = q[j], ql[j]
    gids[-1] = gids[0]                                      # an id twice in the gallery: both left out
    return q, g, ql, gl, qids, gids


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('no_positive', ['skip', 'zero'])
@pytest.mark.parametrize('cutoff', ['k', 'k_prime'])
def test_matches_brute_force(seed, no_positive, cutoff):
    q, g, ql, gl, qids, gids = _random_case(seed)
    got, counts = retrieval_metrics(q, g, ql, gl, query_ids=qids, gallery_ids=gids, ks=KS,
                                    no_positive=no_positive, cutoff=cutoff, query_chunk=7, gallery_chunk=13,
                                    return_counts=True)
    ref, used = retrieval_reference(q, g, ql, gl, KS, qids, gids, no_positive, cutoff)
    assert list(got) == [f'{m}@{k}' for m in ('mAP', 'Prec', 'Recall', 'M5Prec') for k in KS]
    for key in ref:
        assert got[key] == pytest.approx(ref[key], abs=1e-12), key
        assert 0.0 <= got[key] <= 1.0
    assert counts['num_evaluated'] == used
    assert counts['num_queries'] == len(q)
    assert got['mAP@1'] == got['Prec@1'] == got['M5Prec@1']


def test_hand_made_case():
    # gallery scores for the query: g0=3, g1=2, g2=1, g3=0 (ranked in that order)
    q = np.array([[1.0, 0.0]], dtype=np.float32)
    g = np.array([[3.0, 0], [2.0, 0], [1.0, 0], [0.0, 0]], dtype=np.float32)
    gl = np.array([1, 0, 1, 1])
    out = retrieval_metrics(q, g, np.array([1]), gl, ks=(1, 2, 3, 10))
    # hits at ranks 1, 3, 4; 3 positives
    assert out['Prec@1'] == 1.0 and out['mAP@1'] == 1.0 and out['M5Prec@1'] == 1.0
    assert out['Prec@2'] == pytest.approx(1 / 2)           # 1 hit in the top 2
    assert out['M5Prec@2'] == pytest.approx(1 / 2)         # K' = 2
    assert out['mAP@2'] == pytest.approx(1.0)              # one hit (rank 1)
    assert out['Prec@3'] == pytest.approx(2 / 3) and out['M5Prec@3'] == pytest.approx(2 / 3)
    assert out['mAP@3'] == pytest.approx((1 + 2 / 3) / 2)
    assert out['Prec@10'] == pytest.approx(3 / 10)         # 3 hits in the top 10 (the list has 4 items)
    assert out['M5Prec@10'] == pytest.approx(3 / 3)        # K' = min(10, 3 positives, 4 items) = 3
    assert out['mAP@10'] == pytest.approx((1 + 2 / 3 + 3 / 4) / 3)
    assert [out[f'Recall@{k}'] for k in (1, 2, 3, 10)] == pytest.approx([1 / 3, 1 / 3, 2 / 3, 1.0])


def test_precision_at_k_never_grows_past_the_positives():
    """Standard Prec@K: a query with 2 positives, both ranked first, has Prec@10 = 0.2 and Prec@50 = 0.04
    (M5Prec@K stays 1: it divides by min(K, #positives)); Prec@K of a perfect ranking never rises with K."""
    q = np.ones((1, 1), dtype=np.float32)
    g = np.arange(60, 0, -1, dtype=np.float32)[:, None]     # ranked in gallery order
    gl = np.array([1, 1] + [0] * 58)
    out = retrieval_metrics(q, g, [1], gl, ks=(1, 10, 50))
    assert [out[f'Prec@{k}'] for k in (1, 10, 50)] == pytest.approx([1.0, 0.2, 0.04])
    assert [out[f'M5Prec@{k}'] for k in (1, 10, 50)] == pytest.approx([1.0, 1.0, 1.0])
    assert [out[f'Recall@{k}'] for k in (1, 10, 50)] == pytest.approx([0.5, 1.0, 1.0])
    assert [out[f'mAP@{k}'] for k in (1, 10, 50)] == pytest.approx([1.0, 1.0, 1.0])


def test_query_excluded_from_its_own_ranking():
    q = np.array([[1.0, 0.0]], dtype=np.float32)
    g = np.array([[1.0, 0.0], [0.5, 0.0], [0.2, 0.0]], dtype=np.float32)
    gl = np.array([7, 3, 7])
    with_self = retrieval_metrics(q, g, [7], gl, ks=(1,))
    without = retrieval_metrics(q, g, [7], gl, query_ids=['a'], gallery_ids=['a', 'b', 'c'], ks=(1, 2))
    assert with_self['Prec@1'] == 1.0
    assert without['Prec@1'] == 0.0                         # 'b' (other label) ranks first
    assert without['Prec@2'] == 0.5                         # 'c' at rank 2: 1 hit in the top 2
    assert without['M5Prec@2'] == 1.0                       # K' = min(2, 1 positive left, 2 items) = 1
    assert without['mAP@2'] == pytest.approx(0.5)


def test_ties_follow_gallery_order():
    q = np.ones((1, 2), dtype=np.float32)
    g = np.ones((4, 2), dtype=np.float32)                     # all tied
    first_pos = retrieval_metrics(q, g, [1], np.array([1, 0, 0, 0]), ks=(1,))
    last_pos = retrieval_metrics(q, g, [1], np.array([0, 0, 0, 1]), ks=(1, 4))
    assert first_pos['Prec@1'] == 1.0
    assert last_pos['Prec@1'] == 0.0 and last_pos['mAP@4'] == pytest.approx(1 / 4)


def test_no_positive_options_and_all_skipped():
    q = np.eye(2, dtype=np.float32)
    g = np.eye(2, dtype=np.float32)
    skip, counts = retrieval_metrics(q, g, [0, 5], [0, 1], ks=(1,), return_counts=True)
    zero = retrieval_metrics(q, g, [0, 5], [0, 1], ks=(1,), no_positive='zero')
    assert skip['Prec@1'] == 1.0 and counts['num_without_positive'] == 1 and counts['num_evaluated'] == 1
    assert zero['Prec@1'] == 0.5
    none = retrieval_metrics(q, g, [-1, 5], [0, 1], ks=(1,))
    assert math.isnan(none['mAP@1'])


def test_cosine_and_dot_differ_and_k_beyond_gallery():
    q = np.array([[1.0, 0.1]], dtype=np.float32)
    g = np.array([[10.0, 10.0], [1.0, 0.0]], dtype=np.float32)
    dot = retrieval_metrics(q, g, [1], [0, 1], ks=(1, 100))
    cos = retrieval_metrics(q, g, [1], [0, 1], ks=(1, 100), similarity='cosine')
    assert dot['Prec@1'] == 0.0 and cos['Prec@1'] == 1.0
    assert dot['Prec@100'] == pytest.approx(1 / 100) and dot['M5Prec@100'] == 1.0
    assert dot['Recall@100'] == 1.0 and dot['mAP@100'] == pytest.approx(0.5)


def test_counts_and_errors():
    q, g, ql, gl, qids, gids = _random_case(3)
    out, counts = retrieval_metrics(q, g, ql, gl, query_ids=qids, gallery_ids=gids, ks=(1, 5), return_counts=True)
    ref, _ = retrieval_reference(q, g, ql, gl, (1, 5), qids, gids)
    assert out == pytest.approx(ref)
    assert counts['num_queries'] == len(q)
    with pytest.raises(ValueError, match='query_labels'):
        retrieval_metrics(q, g, ql[:-1], gl)
    with pytest.raises(TypeError, match='integers'):
        retrieval_metrics(q, g, ql.astype(float), gl)
    with pytest.raises(ValueError, match='dim'):
        retrieval_metrics(q[:, :2], g, ql, gl)
    with pytest.raises(ValueError, match='no_positive'):
        retrieval_metrics(q, g, ql, gl, no_positive='drop')
