"""Compressed search indexes: int8 (scalar quantiser) and binary (re-scored) against exact search."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip('faiss')

from m5mm.evaluation.search import SearchIndex  # noqa: E402
from m5mm.evaluation.search.binary_index import ScalarQuantizer8, sign_bits  # noqa: E402


def _clustered(n=2000, dim=128, clusters=30, seed=0):
    """Unit vectors around random centres (products of a category lie together), and queries near them."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    x = centres[rng.integers(clusters, size=n)] + 0.8 * rng.normal(size=(n, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    queries = x[:100] + 0.2 * rng.normal(size=(100, dim))
    return x.astype(np.float32), queries.astype(np.float32)


def recall(approx: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of the exact top-k each approximate top-k holds."""
    return float(np.mean([len(set(a) & set(e)) / len(e) for a, e in zip(approx, exact)]))


@pytest.fixture(scope='module')
def data():
    x, q = _clustered()
    ids = [f'P{i}' for i in range(len(x))]
    exact = SearchIndex.build(x, ids, index_type='flat', backend='faiss').search(q, 10)
    return x, q, ids, exact


@pytest.mark.parametrize('index_type,floor', [('int8', 0.95), ('binary', 0.7)])
def test_recall_against_exact_search(data, index_type, floor, tmp_path):
    x, q, ids, exact = data
    index = SearchIndex.build(x, ids, index_type=index_type)
    got = index.search(q, 10)
    assert recall(got.indices, exact.indices) >= floor
    # a saved index loads and answers the same; its files are listed and verified
    index.save(str(tmp_path))
    back = SearchIndex.load(str(tmp_path))
    np.testing.assert_array_equal(back.search(q, 10).indices, got.indices)
    assert back.ids == ids and back.index_type == index_type


def test_binary_rescoring_beats_hamming_order_and_grows_with_candidates(data):
    x, q, ids, exact = data
    recalls = [recall(SearchIndex.build(x, ids, index_type='binary', rescore=r).search(q, 10).indices, exact.indices)
               for r in (1, 4, 20)]
    assert recalls[0] < recalls[1] <= recalls[2]
    # rescore=1 keeps the Hamming candidates: the same set, re-ordered by the int8 scores
    index = SearchIndex.build(x, ids, index_type='binary', rescore=1)
    _, hamming = index.index.bits.search(sign_bits(q), 10)
    assert all(set(a) == set(b) for a, b in zip(index.search(q, 10).indices, hamming))


def test_int8_codes_round_trip_within_half_a_step():
    x, _ = _clustered(n=500, dim=16)
    sq = ScalarQuantizer8.fit(x)
    decoded = sq.decode(sq.encode(x))
    assert np.abs(decoded - x).max() <= 0.5 * sq.step.max() + 1e-6
    bits = sign_bits(np.array([[1.0, -1.0, 0.0, 2.0, -3.0, 5.0, 1.0, -1.0, 1.0]]))
    assert bits.tolist() == [[0b10010110, 0b10000000]]


def test_scores_and_search_by_id_use_the_compressed_vectors(data):
    x, q, ids, _ = data
    for index_type in ('int8', 'binary'):
        index = SearchIndex.build(x, ids, index_type=index_type)
        result = index.search(q[:3], 5)
        assert np.all(np.diff(result.scores, axis=1) <= 1e-6)                   # best first
        np.testing.assert_allclose(result.scores[:, 0], (x[result.indices[:, 0]] * q[:3]).sum(1), atol=0.05)
        assert np.abs(index.vector('P7') - x[7]).max() < 0.02
        hits = index.search_by_id('P7', 5)
        assert 'P7' not in hits.ids[0] and len(hits.ids[0]) == 5


def test_an_index_with_fewer_products_than_asked_pads(data):
    x, q, ids, _ = data
    index = SearchIndex.build(x[:3], ids[:3], index_type='binary')
    result = index.search(q[:2], 5)
    assert [len(r) for r in result.ids] == [3, 3] and (result.indices[:, 3:] == -1).all()
