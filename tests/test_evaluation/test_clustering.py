import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from m5mm.evaluation import KMeans, ari_score, clustering_scores, contingency_table, nmi_score, purity_score


@pytest.mark.parametrize('seed', range(6))
def test_nmi_ari_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    y = rng.integers(0, int(rng.integers(1, 6)), size=n)
    c = rng.integers(0, int(rng.integers(1, 8)), size=n) * 7 - 3
    assert nmi_score(y, c) == pytest.approx(skm.normalized_mutual_info_score(y, c), abs=1e-10)
    assert ari_score(y, c) == pytest.approx(skm.adjusted_rand_score(y, c), abs=1e-10)


@pytest.mark.parametrize('y,c', [([0, 0, 1, 1], [1, 1, 0, 0]), ([0, 0, 0], [0, 0, 0]),
                                 ([0, 0, 0, 0], [0, 1, 2, 3]), ([0, 1, 2, 3], [0, 1, 2, 3]),
                                 ([0, 0, 1, 1], [0, 0, 0, 0])])
def test_edge_cases_match_sklearn(y, c):
    assert nmi_score(y, c) == pytest.approx(skm.normalized_mutual_info_score(y, c))
    assert ari_score(y, c) == pytest.approx(skm.adjusted_rand_score(y, c))


def test_purity_and_contingency_by_hand():
    y = ['a', 'a', 'b', 'b', 'b', 'c']
    c = [0, 0, 0, 1, 1, 2]
    table = contingency_table(y, c)
    assert table.tolist() == [[2, 0, 0], [1, 2, 0], [0, 0, 1]]
    assert purity_score(y, c) == pytest.approx((2 + 2 + 1) / 6)
    assert purity_score([0, 1, 2, 3], [0, 0, 0, 0]) == 0.25
    assert set(clustering_scores(y, c)) == {'NMI', 'purity', 'ARI'}
    assert contingency_table([], []).shape == (0, 0) and np.isnan(purity_score([], []))


def _blobs(seed, k=4, n_per=50, dim=8):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=10.0, size=(k, dim))
    y = np.repeat(np.arange(k), n_per)
    return (centers[y] + rng.normal(size=(len(y), dim))).astype(np.float32), y


def test_kmeans_recovers_blobs_and_is_seeded():
    x, y = _blobs(0)
    km = KMeans(num_clusters=4, n_init=3, seed=5).fit(x)
    assert clustering_scores(y, km.labels.numpy()) == pytest.approx({'NMI': 1.0, 'purity': 1.0, 'ARI': 1.0})
    again = KMeans(num_clusters=4, n_init=3, seed=5).fit(x)
    assert torch.equal(km.labels, again.labels) and km.inertia == again.inertia
    assert torch.equal(km.predict(x), km.labels)
    # inertia equals the sum of squared distances to the assigned centroids
    ref = ((torch.from_numpy(x) - km.centroids[km.labels]) ** 2).sum().item()
    assert km.inertia == pytest.approx(ref, rel=1e-4)


def test_kmeans_is_sklearns_kmeans():
    from sklearn.cluster import KMeans as SkKMeans
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 5)).astype(np.float32)       # no clear structure: a harder case
    ours = KMeans(num_clusters=6, n_init=4, seed=0).fit(x)
    theirs = SkKMeans(n_clusters=6, n_init=4, random_state=0).fit(x)
    assert ours.labels.tolist() == theirs.labels_.tolist() and ours.inertia == pytest.approx(theirs.inertia_)
    assert ours.predict(x[:20]).tolist() == theirs.predict(x[:20]).tolist()


def test_kmeans_errors():
    with pytest.raises(ValueError, match='at least'):
        KMeans(num_clusters=5).fit(np.zeros((3, 2), dtype=np.float32))
    with pytest.raises(RuntimeError, match='before fit'):
        KMeans(num_clusters=2).predict(np.zeros((3, 2), dtype=np.float32))
    # duplicate points: fewer distinct points than clusters must not crash
    km = KMeans(num_clusters=3, n_init=1).fit(np.zeros((6, 2), dtype=np.float32))
    assert km.inertia == 0.0
