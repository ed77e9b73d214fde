import numpy as np
import pytest

from m5mm.evaluation import cross_modal_retrieval

from .reference import cross_modal_reference


def _case(seed, n=25, dim=4):
    rng = np.random.default_rng(seed)
    text = rng.integers(-2, 3, size=(n, dim)).astype(np.float32)
    image = text + rng.integers(-1, 2, size=(n, dim)).astype(np.float32)
    ids = [f'p{i}' for i in range(n)]
    return text, image, ids


@pytest.mark.parametrize('seed', [0, 1])
def test_id_positives_match_brute_force(seed):
    text, image, ids = _case(seed)
    got = cross_modal_retrieval(text, image, query_ids=ids, gallery_ids=ids, ks=(1, 5, 10), similarity='dot',
                                query_chunk=4)
    ref = cross_modal_reference(text, image, ids, ids, (1, 5, 10))
    for key in ref:
        assert got[key] == pytest.approx(ref[key], abs=1e-12), key
    assert got['num_evaluated'] == len(ids)


def test_label_positives_presence_and_missing_ids():
    text, image, ids = _case(2)
    labels = np.arange(len(ids)) % 4
    present = np.ones(len(ids), dtype=bool)
    present[::5] = False
    got = cross_modal_retrieval(text, image, query_labels=labels, gallery_labels=labels, positive='label',
                                gallery_present=present, ks=(1, 3), similarity='dot')
    ref = cross_modal_reference(text, image[present], labels, labels[present], (1, 3))
    for key in ref:
        assert got[key] == pytest.approx(ref[key], abs=1e-12)
    # gallery lacks half of the ids: those queries are skipped and counted
    out = cross_modal_retrieval(text, image[:10], query_ids=ids, gallery_ids=ids[:10], ks=(1,), similarity='dot')
    assert out['num_evaluated'] == 10 and out['num_queries'] == len(ids)
    with pytest.raises(ValueError, match="needs query_ids"):
        cross_modal_retrieval(text, image)
