"""Presence gap, presence share and partial-query retrieval against hand computations on tiny arrays."""
import math

import numpy as np
import pytest

from m5mm.evaluation.metrics.presence import group_variance_share, presence_gap, presence_patterns
from m5mm.evaluation.tasks import PartialQueryRetrievalTask, PresenceTask, run_tasks

R2 = 1 / math.sqrt(2)


def _gap_problem():
    """Category 0: a, b (pattern 0), c (pattern 1); category 1: d (0), e, f (1); category 2: one pattern
    only (skipped); a product of unknown category (left out)."""
    x = np.array([[1, 0], [1, 0], [0, 1],            # category 0
                  [1, 0], [1, 1], [0, 2],            # category 1
                  [1, 0], [0, 1],                    # category 2: both pattern 0
                  [5, 5]], dtype=np.float32)         # unknown category
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, -1])
    patterns = np.array([0, 0, 1, 0, 1, 1, 0, 0, 1])
    return x, labels, patterns


def test_presence_patterns_name_the_present_modalities():
    codes, names = presence_patterns({'image': [True, False, True, False], 'text': [True, True, False, False]})
    assert names == ['image+text', 'text', 'image', 'none'] and codes.tolist() == [0, 1, 2, 3]
    codes, names = presence_patterns({'image': [True, False], 'text': [True, True]}, ['text', 'image'])
    assert names == ['text+image', 'text']
    with pytest.raises(KeyError, match='audio'):
        presence_patterns({'image': [True]}, ['audio'])


def test_presence_gap_equals_a_hand_computation():
    x, labels, patterns = _gap_problem()
    out, counts = presence_gap(x, labels, patterns)
    # category 0: same {a,b} = 1, different {a,c}, {b,c} = 0 -> gap 1
    # category 1: same {e,f} = 1/sqrt2, different {d,e} = 1/sqrt2, {d,f} = 0 -> gap 1/sqrt2 - 1/(2 sqrt2)
    same, diff = (1 + R2) / 2, (0 + R2 / 2) / 2
    assert out['same'] == pytest.approx(same) and out['different'] == pytest.approx(diff)
    assert out['gap'] == pytest.approx(same - diff)
    assert counts == dict(num_categories=3, num_evaluated=2, skipped_categories=1, pairs_same=2, pairs_different=4)
    dot, _ = presence_gap(x, labels, patterns, similarity='dot')
    # category 0: same 1, different 0; category 1: same e.f = 2, different (d.e + d.f) / 2 = 0.5
    assert dot['gap'] == pytest.approx(((1 - 0) + (2 - 0.5)) / 2)


def test_presence_gap_is_nan_without_a_category_of_two_patterns():
    x, labels, _ = _gap_problem()
    out, counts = presence_gap(x, labels, np.zeros(len(labels), dtype=int))
    assert math.isnan(out['gap']) and counts['num_evaluated'] == 0 and counts['skipped_categories'] == 3
    with pytest.raises(ValueError, match='similarity'):
        presence_gap(x, labels, labels, similarity='l1')


def test_group_variance_share_equals_a_hand_computation():
    # 1-D, not normalised: [0, 2] in group 0, [4] in group 1; mean 2, total SS 8, between 2*1 + 1*4 = 6
    assert group_variance_share([[0.0], [2.0], [4.0]], [0, 0, 1], normalize=False) == pytest.approx(0.75)
    assert group_variance_share([[0.0], [2.0], [4.0], [9.0]], [0, 0, 1, -1], normalize=False) == pytest.approx(0.75)
    # normalised: the group decides the direction (share 1) or nothing (share 0)
    assert group_variance_share([[1., 0.], [3., 0.], [0., 1.], [0., 2.]], [0, 0, 1, 1]) == pytest.approx(1.0)
    assert group_variance_share([[1., 0.], [0., 1.], [2., 0.], [0., 3.]], [0, 0, 1, 1]) == pytest.approx(0.0)
    assert math.isnan(group_variance_share([[1.0, 0.0]], [0]))


def test_presence_task_reports_gap_share_and_patterns():
    x, labels, patterns = _gap_problem()
    present = {'image': patterns == 0, 'text': np.ones(len(labels), dtype=bool)}
    data = {'ids': [f'p{i}' for i in range(len(labels))], 'features': x, 'category': labels, 'present': present}
    results, counts = run_tasks({'test': data}, [dict(type='PresenceTask')], return_counts=True)
    known = labels >= 0
    assert results['presence']['gap'] == pytest.approx(presence_gap(x, labels, patterns)[0]['gap'])
    assert results['presence']['share'] == pytest.approx(group_variance_share(x[known], patterns[known]))
    assert results['presence']['category_share'] == pytest.approx(group_variance_share(x, labels))
    assert counts['presence']['patterns'] == {'image+text': 5, 'text': 3}
    with pytest.raises(KeyError, match='present'):
        PresenceTask()({'test': dict(data, present={})})


def test_products_with_none_of_the_modalities_are_left_out_of_the_gap_and_counted():
    x, labels, patterns = _gap_problem()
    present = {'image': patterns == 0, 'text': np.ones(len(labels), dtype=bool)}
    data = {'ids': [f'p{i}' for i in range(len(labels))], 'features': x, 'category': labels, 'present': present}
    empty_x = np.concatenate([x, np.zeros((2, x.shape[1]))])                  # two products with no modality
    empty = dict(data, ids=data['ids'] + ['e0', 'e1'], features=empty_x,
                 category=np.concatenate([labels, labels[known_rows(labels)[:2]]]),
                 present={m: np.concatenate([v, [False, False]]) for m, v in present.items()})
    results, counts = run_tasks({'test': empty}, [dict(type='PresenceTask')], return_counts=True)
    plain = run_tasks({'test': data}, [dict(type='PresenceTask')])
    assert results['presence']['gap'] == pytest.approx(plain['presence']['gap'])
    codes = np.concatenate([patterns, [2, 2]])
    assert results['presence']['gap_with_empty'] == pytest.approx(
        presence_gap(empty_x, empty['category'], codes)[0]['gap'])
    assert results['presence']['gap_with_empty'] != pytest.approx(results['presence']['gap'])
    assert counts['presence']['empty_products'] == 2 and 'none' not in counts['presence']['patterns']


def known_rows(labels):
    return np.nonzero(labels >= 0)[0]


def _partial_splits():
    """Gallery: g0 (cat 0) at [1, 0], g1 (cat 1) at [0, 1], g2 (cat 1) at [1, 1] (close to every text query).
    Text-only queries: q0 (cat 0) [1, 0.9] ranks g2 first, q1 (cat 1) [0.1, 1] ranks g1 first; q2 has no text."""
    gallery = dict(ids=['g0', 'g1', 'g2'], category=np.array([0, 1, 1]),
                   features=np.array([[1, 0], [0, 1], [0.8, 0.8]], dtype=np.float32),
                   present={'text': np.array([True, True, True]), 'image': np.array([True, True, False])})
    text_gallery = dict(gallery, features=np.array([[1, 0], [0, 1], [0.1, 0.9]], dtype=np.float32),
                        present={'text': np.array([True, True, True]), 'image': np.zeros(3, dtype=bool)})
    query = dict(ids=['q0', 'q1', 'q2'], category=np.array([0, 1, 0]),
                 features=np.array([[1, 0.9], [0.1, 1], [0, 0]], dtype=np.float32),
                 present={'text': np.array([True, True, False]), 'image': np.zeros(3, dtype=bool)})
    return {'gallery': gallery, 'gallery@text': text_gallery, 'query@text': query}


def test_partial_query_retrieval_against_the_mixed_and_the_text_only_gallery():
    splits = _partial_splits()
    task = PartialQueryRetrievalTask(subsets=[['text']], reference=['text'], ks=(1, 2))
    out = task(splits)
    # mixed gallery (dot): q0 -> g2 (1.52) > g0 (1.0): miss at 1, AP@2 = 1/2; q1 -> g1 (1.0) > g2: hit
    assert out.results['partial_text'] == pytest.approx({'mAP@1': 0.5, 'mAP@2': (0.5 + 1.0) / 2})
    # text-only gallery: q0 -> g0 (1.0) > g2 (0.91): hit; q1 -> g1 (1.0) > g2 (0.91): hit, then g2 also (AP 1)
    assert out.results['partial_text_ref'] == pytest.approx({'mAP@1': 1.0, 'mAP@2': 1.0})
    assert out.results['partial_ratio'] == pytest.approx({'mAP@1': 0.5, 'mAP@2': 0.75})
    assert out.counts['partial_text']['num_lacking'] == 1             # q2 has no text: left out
    assert out.counts['partial_text']['num_evaluated'] == 2


def test_partial_query_retrieval_task_checks_its_subsets():
    with pytest.raises(ValueError, match='reference'):
        PartialQueryRetrievalTask(subsets=[['image']], reference=['text'])
    with pytest.raises(ValueError, match='non-empty'):
        PartialQueryRetrievalTask(subsets=[[]])
    with pytest.raises(KeyError, match='query@image'):
        PartialQueryRetrievalTask(subsets=[['image']], reference=None)(_partial_splits())
