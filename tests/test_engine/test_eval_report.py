"""What results.json says about the queries behind the numbers, and the warnings when they are few."""
from __future__ import annotations

import logging

import numpy as np

from m5mm.evaluation.report import query_counts, results_document, runnable_tasks, warn_about_queries
from m5mm.evaluation import run_tasks


def _split(labels, prefix):
    labels = np.asarray(labels)
    rng = np.random.default_rng(len(labels))
    return dict(ids=[f'{prefix}{i}' for i in range(len(labels))], features=rng.normal(size=(len(labels), 4)),
                category=labels, instance=labels)


def test_a_one_record_gallery_is_not_a_perfect_score(caplog):
    """A gallery with one product: the queries of other categories have no positive and are skipped."""
    splits = dict(query=_split([0, 1, 2, 3, 0, 1, 2, 3], 'q'), gallery=_split([0], 'g'))
    results, counts = run_tasks(splits, [dict(type='RetrievalTask', ks=(1,))], return_counts=True)
    assert results['retrieval_coarse']['mAP@1'] == 1.0   # the number alone looks perfect ...
    document = results_document(results, counts)
    assert document['query_counts']['retrieval_coarse'] == dict(queries=8, scored=2, skipped=6)
    with caplog.at_level(logging.WARNING, logger='m5mm'):
        messages = warn_about_queries(document['query_counts'])
    assert messages[0] == ('retrieval_coarse: 6 of 8 queries were skipped (no positive in the gallery); '
                           'the metrics describe only the 2 scored')
    assert 'retrieval_fine: 6 of 8' in caplog.text


def test_few_scored_queries_are_warned_about_and_many_are_not():
    assert warn_about_queries(query_counts({'r': dict(num_queries=5, num_evaluated=5)})) == \
        ['r: only 5 queries were scored; the metrics are noisy']
    assert warn_about_queries(query_counts({'r': dict(num_queries=500, num_evaluated=400)})) == []
    assert results_document({'clustering': {'NMI': 0.5}}, {}) == {'clustering': {'NMI': 0.5}}


def test_tasks_whose_split_is_empty_are_skipped_with_a_warning(caplog):
    needed = {'retrieval': ('query', 'gallery'), 'clustering': ('query', 'gallery'), 'classification': ('train',)}
    with caplog.at_level(logging.WARNING, logger='m5mm'):
        runnable = runnable_tasks(['retrieval', 'classification'], needed, {'query': 0, 'gallery': 3, 'train': 9})
    assert runnable == ['classification']
    assert "Evaluation 'retrieval' is skipped: its split(s) 'query' have no record" in caplog.text
