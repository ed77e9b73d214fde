"""tools/test.py --tasks presence,partial_query,text_retrieval end to end on a tiny trained checkpoint."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from m5mm.evaluation.evaluate import split_dataloader
from m5mm.evaluation.evaluate_checkpoint import build_model_for_eval
from m5mm.evaluation import retrieval_metrics
from m5mm.evaluation.metrics.presence import group_variance_share, presence_gap, presence_patterns
from m5mm.utils.config import load_config
from tests.conftest import REPO
from tests.script_module import load_script

CONFIG = str(REPO / 'configs' / 'scale_5mod_tiny.py')


@pytest.fixture(scope='module')
def run(tiny_work_dir, demo_root, tmp_path_factory):
    tool = load_script('tools/test.py')
    out = tmp_path_factory.mktemp('partial')
    tool.main([CONFIG, str(tiny_work_dir), '--work-dir', str(out), '--tasks', 'presence,partial_query,text_retrieval',
               '--save-features', '--cfg-options', f'data_root={demo_root}'])
    cfg = load_config(CONFIG, {'data_root': str(demo_root)})
    return json.loads((out / 'results.json').read_text()), build_model_for_eval(cfg, tiny_work_dir), cfg


def _hand_features(model, cfg, split, keep, *, require=True):
    """``split``'s joint vectors with every modality outside ``keep`` marked absent by hand and the categories,
    of the rows that have all of ``keep`` (of every row without ``require``)."""
    feats, labels, rows = [], [], []
    with torch.no_grad():
        for batch in split_dataloader(cfg, split):
            has = torch.ones(len(batch['meta']['ids']), dtype=torch.bool)
            for m in model.modalities:
                entry = batch[m]
                if m in keep:
                    has &= entry['present'].bool() | (not require)
                else:
                    batch[m] = dict(entry, present=torch.zeros_like(entry['present']))
            feats.append(model.extract_features(batch)['joint'])
            labels.append(torch.as_tensor(batch['meta']['category']))
            rows.append(has)
    has = torch.cat(rows)
    return torch.cat(feats)[has].numpy(), torch.cat(labels)[has].numpy()


def test_partial_query_numbers_equal_a_hand_computation(run):
    results, model, cfg = run
    gallery, g_labels = _hand_features(model, cfg, 'gallery', model.modalities, require=False)
    for keep, name in ((['text'], 'partial_text'), (['image', 'text'], 'partial_image+text')):
        query, q_labels = _hand_features(model, cfg, 'query', keep)
        expected = retrieval_metrics(query, gallery, q_labels, g_labels, ks=(1, 10))
        assert results[name]['mAP@1'] == pytest.approx(expected['mAP@1'], abs=1e-6)
        assert results[name]['mAP@10'] == pytest.approx(expected['mAP@10'], abs=1e-6)
    text_gallery, t_labels = _hand_features(model, cfg, 'gallery', ['text'])
    query, q_labels = _hand_features(model, cfg, 'query', ['text'])
    ref = retrieval_metrics(query, text_gallery, q_labels, t_labels, ks=(1, 10))
    assert results['partial_text_ref']['mAP@10'] == pytest.approx(ref['mAP@10'], abs=1e-6)
    assert results['partial_ratio']['mAP@10'] == pytest.approx(results['partial_text']['mAP@10'] / ref['mAP@10'])
    assert set(results['text_retrieval_ref']) == {'nDCG@10', 'MRR'}
    assert results['query_counts']['partial_text']['scored'] > 0


def test_presence_numbers_equal_the_metrics_on_the_test_features(run, tiny_work_dir):
    results, model, cfg = run
    queries = [_hand_features(model, cfg, split, model.modalities, require=False) for split in ('query', 'gallery')]
    feats = np.concatenate([q[0] for q in queries])
    labels = np.concatenate([q[1] for q in queries])
    present = {m: [] for m in model.modalities}
    for split in ('query', 'gallery'):
        for batch in split_dataloader(cfg, split):
            for m in model.modalities:
                present[m].append(batch[m]['present'].numpy())
    codes, _ = presence_patterns({m: np.concatenate(v) for m, v in present.items()})
    gap, _ = presence_gap(feats, labels, codes)
    assert results['presence']['gap'] == pytest.approx(gap['gap'], abs=1e-5)
    assert results['presence']['share'] == pytest.approx(group_variance_share(feats, codes), abs=1e-5)
    assert results['presence']['category_share'] == pytest.approx(group_variance_share(feats, labels), abs=1e-5)
