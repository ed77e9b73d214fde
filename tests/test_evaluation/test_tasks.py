import math

import numpy as np
import pytest

from m5mm.evaluation import (ClassificationTask, CrossModalRetrievalTask, LinearProbe, RetrievalTask, TaskResult,
                             format_results, retrieval_metrics, run_tasks, save_features, topk_accuracy)
from m5mm.registry import TASKS

KS = (1, 5, 10, 50, 100)


def _split(rng, centers, n, prefix, dim=8):
    category = rng.integers(0, len(centers), size=n)
    instance = category * 100 + rng.integers(0, 3, size=n)
    x = centers[category] + 0.3 * rng.normal(size=(n, dim)) + 0.05 * (instance % 100)[:, None]
    return {'ids': [f'{prefix}{i}' for i in range(n)], 'features': x.astype(np.float32),
            'category': category, 'instance': instance}


@pytest.fixture
def splits():
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=3.0, size=(4, 8))
    return {'query': _split(rng, centers, 20, 'q'), 'gallery': _split(rng, centers, 60, 'g'),
            'train': _split(rng, centers, 80, 't'), 'test': _split(rng, centers, 40, 'e')}


def test_run_tasks_layout_and_values(splits):
    results, counts = run_tasks(splits, return_counts=True)
    assert list(results) == ['retrieval_coarse', 'retrieval_fine', 'classification', 'clustering']
    assert list(results['retrieval_coarse']) == [f'{m}@{k}' for m in ('mAP', 'Prec', 'Recall', 'M5Prec') for k in KS]
    assert list(results['classification']) == ['accuracy', 'top5']
    assert list(results['clustering']) == ['NMI', 'purity', 'ARI']
    for metrics in results.values():
        assert all(0.0 <= v <= 1.0 for v in metrics.values())
    q, g = splits['query'], splits['gallery']
    assert results['retrieval_fine'] == retrieval_metrics(q['features'], g['features'], q['instance'],
                                                          g['instance'], ks=KS)
    probe = LinearProbe().fit(splits['train']['features'], splits['train']['category'])
    assert results['classification'] == probe.evaluate(splits['test']['features'], splits['test']['category'])
    assert results['clustering']['purity'] > 0.9 and results['retrieval_coarse']['mAP@1'] > 0.9
    assert counts['retrieval_coarse'] == dict(num_queries=20, num_evaluated=20, num_without_positive=0)
    assert set(counts) == {'retrieval_coarse', 'retrieval_fine'}   # by result name; the other tasks have none
    out = RetrievalTask(levels={'fine': 'instance'})(splits)     # a task returns its results and counts
    assert isinstance(out, TaskResult) and out.results == {'retrieval_fine': results['retrieval_fine']}
    assert out.counts == {'retrieval_fine': counts['retrieval_fine']}


def test_counts_of_several_cross_modal_pairs_are_kept_apart(splits):
    rng = np.random.default_rng(2)
    test = dict(splits['test'], modality_features={m: rng.normal(size=(40, 8)).astype(np.float32)
                                                   for m in ('text', 'image')},
                present={'text': np.arange(40) % 4 != 0, 'image': np.ones(40, bool)})
    _, counts = run_tasks({'test': test}, [dict(type='CrossModalRetrievalTask', query_modality='text',
                                                gallery_modality='image'),
                                           dict(type='CrossModalRetrievalTask', query_modality='image',
                                                gallery_modality='text')], return_counts=True)
    assert counts['retrieval_text2image'] == dict(num_queries=30, num_evaluated=30)   # queries with text
    assert counts['retrieval_image2text'] == dict(num_queries=40, num_evaluated=30)   # positives need text


def test_paths_logits_and_configs(tmp_path, splits):
    paths = {name: save_features(str(tmp_path / name), data) for name, data in splits.items()}
    logits = np.random.default_rng(1).normal(size=(40, 4)).astype(np.float32)
    test = dict(splits['test'], logits=logits)
    by_path = run_tasks(dict(paths, test=test),
                        [dict(type='RetrievalTask', levels={'coarse': 'category'}, ks=(1, 5)),
                         dict(type='ClassificationTask', source='auto')])
    assert list(by_path) == ['retrieval_coarse', 'classification']
    assert by_path['classification'] == topk_accuracy(logits, splits['test']['category'])
    probe = run_tasks(dict(paths, test=test), [ClassificationTask(source='probe')])
    assert probe['classification']['accuracy'] > 0.9
    with pytest.raises(KeyError, match="split 'gallery' is needed"):
        run_tasks({'query': splits['query']}, [dict(type='RetrievalTask')])
    with pytest.raises(KeyError, match="no 'instance' field"):
        run_tasks({'query': {'ids': [], 'features': np.zeros((0, 8), np.float32), 'category': []},
                   'gallery': splits['gallery']}, [dict(type='RetrievalTask')])
    with pytest.raises(Exception, match='RetrievalTask'):
        TASKS.build(dict(type='RetreivalTask'))


def test_cross_modal_task_and_clustering_options(splits):
    test = dict(splits['test'])
    rng = np.random.default_rng(2)
    image = test['features'] + 0.01 * rng.normal(size=(40, 8))
    test['modality_features'] = {'text': test['features'], 'image': image}
    test['present'] = {'text': np.ones(40, bool), 'image': np.arange(40) % 4 != 0}
    out = run_tasks({'test': test}, [dict(type='CrossModalRetrievalTask', query_modality='text',
                                          gallery_modality='image', ks=(1, 5)),
                                     dict(type='ClusteringTask', num_clusters=4, normalize=True)])
    assert set(out['retrieval_text2image']) == {'R@1', 'R@5', 'mAP'}
    assert out['retrieval_text2image']['R@1'] > 0.9
    assert out['clustering']['NMI'] > 0.8
    direct = CrossModalRetrievalTask(query_modality='text', gallery_modality='image', ks=(1, 5))({'test': test})
    assert direct.results['retrieval_text2image'] == out['retrieval_text2image']
    assert direct.counts == {'num_queries': 40, 'num_evaluated': 30}
    with pytest.raises(KeyError, match='keep_modalities'):
        run_tasks({'test': splits['test']}, [dict(type='CrossModalRetrievalTask', query_modality='text',
                                                  gallery_modality='image')])


def test_format_results():
    table = format_results({'retrieval_coarse': {'mAP@1': 0.5147, 'Prec@1': 0.5147},
                            'retrieval_fine': {'mAP@1': 0.25, 'Prec@1': math.nan},
                            'classification': {'accuracy': 0.7958, 'top5': 0.95}})
    lines = table.splitlines()
    assert lines[0] == 'results (values in %)'
    assert lines[1].split() == ['task', 'mAP@1', 'Prec@1']
    assert lines[3].split() == ['retrieval_coarse', '51.47', '51.47']
    assert lines[4].split() == ['retrieval_fine', '25.00', 'nan']
    assert lines[6].split() == ['task', 'accuracy', 'top5']
    assert lines[8].split() == ['classification', '79.58', '95.00']
    assert '0.7958' in format_results({'classification': {'accuracy': 0.7958}}, percent=False)
