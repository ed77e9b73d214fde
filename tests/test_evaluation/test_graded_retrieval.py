"""nDCG@K and MRR with graded relevance, against scikit-learn and a brute-force computation."""
import math

import numpy as np
import pytest
from sklearn.metrics import ndcg_score

from m5mm.evaluation.metrics.graded_retrieval import graded_retrieval_metrics, relevance_rows

from .reference import ranked_gallery


def _problem(seed, num_q=7, num_g=40, dim=6):
    rng = np.random.default_rng(seed)
    q, g = rng.normal(size=(num_q, dim)).astype(np.float32), rng.normal(size=(num_g, dim)).astype(np.float32)
    grades = rng.choice([0, 0, 0, 1, 2, 3], size=(num_q, num_g)).astype(float)
    grades[0] = 0   # a query without relevant items is skipped
    relevance = [{j: grades[i, j] for j in range(num_g) if grades[i, j] > 0} for i in range(num_q)]
    return q, g, grades, relevance


def _brute_force(q, g, grades, k, gain):
    ndcg, rr = [], []
    for i in range(len(q)):
        if not grades[i].any():
            continue
        ranked = ranked_gallery(q[i], g)
        gain_of = (lambda r: 2 ** r - 1) if gain == 'exponential' else (lambda r: r)
        dcg = sum(gain_of(grades[i, j]) / math.log2(r + 2) for r, j in enumerate(ranked[:k]))
        ideal = sorted(grades[i], reverse=True)[:k]
        ndcg.append(dcg / sum(gain_of(x) / math.log2(r + 2) for r, x in enumerate(ideal)))
        rr.append(1.0 / (next(r for r, j in enumerate(ranked) if grades[i, j] > 0) + 1))
    return np.mean(ndcg), np.mean(rr), len(ndcg)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_linear_ndcg_equals_sklearn_and_both_gains_equal_brute_force(seed):
    q, g, grades, relevance = _problem(seed)
    for k in (5, 10):
        linear, counts = graded_retrieval_metrics(q, g, relevance, k=k, gain='linear', return_counts=True)
        scores = (q.astype(np.float64) @ g.astype(np.float64).T)[1:]
        assert linear[f'nDCG@{k}'] == pytest.approx(ndcg_score(grades[1:], scores, k=k), abs=1e-9)
        assert counts == {'num_queries': 7, 'num_evaluated': 6}
        for gain in ('exponential', 'linear'):
            out = graded_retrieval_metrics(q, g, relevance, k=k, gain=gain)
            ndcg, mrr, _ = _brute_force(q, g, grades, k, gain)
            assert out[f'nDCG@{k}'] == pytest.approx(ndcg, abs=1e-9)
            assert out['MRR'] == pytest.approx(mrr, abs=1e-9)


def test_ties_rank_by_gallery_order_and_perfect_rankings_score_one():
    g = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.5, 0.0]], dtype=np.float32)
    q = np.array([[1.0, 0.0]], dtype=np.float32)
    out = graded_retrieval_metrics(q, g, [{1: 1.0}], k=2)   # row 0 ties row 1 and ranks first
    assert out['MRR'] == pytest.approx(0.5)
    assert out['nDCG@2'] == pytest.approx((1 / math.log2(3)) / 1.0)
    perfect = graded_retrieval_metrics(q, g, [{0: 2.0, 1: 1.0}], k=2)
    assert perfect == {'nDCG@2': pytest.approx(1.0), 'MRR': pytest.approx(1.0)}
    cosine = graded_retrieval_metrics(q, g, [{3: 1.0}], k=4, similarity='cosine')   # ties at cos = 1
    assert cosine['MRR'] == pytest.approx(1 / 3)


def test_no_relevant_items_bad_rows_and_id_mapping():
    q, g = np.eye(2, dtype=np.float32), np.eye(2, dtype=np.float32)
    out, counts = graded_retrieval_metrics(q, g, [{}, {}], return_counts=True)
    assert math.isnan(out['nDCG@10']) and math.isnan(out['MRR']) and counts['num_evaluated'] == 0
    with pytest.raises(ValueError, match='outside'):
        graded_retrieval_metrics(q, g, [{5: 1.0}, {}])
    with pytest.raises(ValueError, match='gain'):
        graded_retrieval_metrics(q, g, [{0: 1.0}, {}], gain='log')
    rows, extra = relevance_rows([{'b': 2, 'zz': 1}, {'a': 1}], ['a', 'b'])
    assert rows == [{1: 2.0}, {0: 1.0}] and extra == {'unknown_ids': 1}
