"""tools/test.py and tools/extract_features.py end to end on a tiny trained checkpoint of the demo data."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from m5mm.engine import run_training
from m5mm.evaluation.evaluate import split_dataloader
from m5mm.evaluation.evaluate_checkpoint import build_model_for_eval
from m5mm.checkpoint.weights import load_model_state_dict, save_model_state_dict
from m5mm.evaluation import SearchIndex, cross_modal_retrieval, load_features, retrieval_metrics
from m5mm.structures import META_KEY
from m5mm.utils.config import load_config
from tests.conftest import REPO
from tests.script_module import load_script

CONFIG = str(REPO / 'configs' / 'scale_5mod_tiny.py')
MODALITIES = ('image', 'text', 'table', 'video', 'audio')
RETRIEVAL_KEYS = [f'{m}@{k}' for m in ('mAP', 'Prec', 'Recall', 'M5Prec') for k in (1, 5, 10, 50, 100)]


def _tool(name: str):
    return load_script(f'tools/{name}.py')


@pytest.fixture(scope='module')
def trained(demo_root, tmp_path_factory):
    """(work dir of a 2-step tiny SCALE run, its checkpoint, cfg-options, the loaded model, cfg)."""
    work_dir = tmp_path_factory.mktemp('tool') / 'run'
    options = {'data_root': str(demo_root)}
    run_training(CONFIG, work_dir=str(work_dir), max_steps=2,
                 cfg_options=dict(options, hooks=[dict(type='CheckpointHook', by_epoch=True, max_keep=1)]))
    cfg = load_config(CONFIG, options)
    checkpoint = work_dir / 'checkpoints' / 'step_00000002'
    return work_dir, checkpoint, options, build_model_for_eval(cfg, checkpoint), cfg


@pytest.fixture(scope='module')
def full_run(trained, tmp_path_factory):
    """tools/test.py with every task and text<->image cross-modal retrieval."""
    work_dir, checkpoint, options, _, _ = trained
    out = tmp_path_factory.mktemp('full')
    _tool('test').main([CONFIG, str(checkpoint), '--work-dir', str(out), '--cross-modal',
                        'text:image,image:text', '--save-features',
                        '--cfg-options', f'data_root={options["data_root"]}'])
    return out, json.loads((out / 'results.json').read_text())


def _hand_joint(model, cfg, split, keep=MODALITIES):
    """Joint features of ``split`` computed batch by batch, other modalities marked absent by hand."""
    feats, ids = [], []
    with torch.no_grad():
        for batch in split_dataloader(cfg, split):
            for m in MODALITIES:
                if m not in keep:
                    batch[m] = dict(batch[m], present=torch.zeros_like(batch[m]['present']))
            feats.append(model.extract_features(batch)['joint'])
            ids += batch[META_KEY]['ids']
    return torch.cat(feats).numpy(), ids


def test_results_json_has_the_documented_layout(full_run):
    out, results = full_run
    assert list(results) == ['retrieval_coarse', 'retrieval_fine', 'classification', 'clustering',
                             'retrieval_text2image', 'retrieval_image2text', 'query_counts']
    counts = results.pop('query_counts')   # the queries behind each retrieval result
    assert set(counts) == {'retrieval_coarse', 'retrieval_fine', 'retrieval_text2image', 'retrieval_image2text'}
    assert counts['retrieval_coarse']['queries'] == counts['retrieval_coarse']['scored'] + \
        counts['retrieval_coarse']['skipped'] > 0
    assert list(results['retrieval_coarse']) == RETRIEVAL_KEYS == list(results['retrieval_fine'])
    assert list(results['classification']) == ['accuracy', 'top5']
    assert list(results['clustering']) == ['NMI', 'purity', 'ARI']
    assert list(results['retrieval_text2image']) == ['R@1', 'R@5', 'R@10', 'mAP']
    for name, metrics in results.items():
        for key, value in metrics.items():
            low = -0.5 if key == 'ARI' else 0.0          # ARI is 0 for chance and may be negative
            assert low <= value <= 1.0, (name, key, value)
    info = json.loads((out / 'test_info.json').read_text())
    assert info['classification'] == 'probe' and info['num_samples']['train'] > 0   # pretrained: linear probe


def test_retrieval_equals_a_direct_computation_from_the_features(full_run, trained):
    out, results = full_run
    _, _, _, model, cfg = trained
    query = load_features(str(out / 'features_query.npz'))
    gallery = load_features(str(out / 'features_gallery.npz'))
    hand, ids = _hand_joint(model, cfg, 'query')
    assert query['ids'] == ids
    np.testing.assert_allclose(query['features'], hand, rtol=1e-5, atol=1e-6)
    for level, key in (('coarse', 'category'), ('fine', 'instance')):
        expected = retrieval_metrics(query['features'], gallery['features'], query[key], gallery[key],
                                     query_ids=query['ids'], gallery_ids=gallery['ids'])
        assert results[f'retrieval_{level}'] == pytest.approx(expected, abs=1e-12)
    test = load_features(str(out / 'features_test_modalities.npz'))
    expected = cross_modal_retrieval(test['modality_features']['text'], test['modality_features']['image'],
                                     query_ids=test['ids'], gallery_ids=test['ids'],
                                     query_present=test['present']['text'],
                                     gallery_present=test['present']['image'])
    assert results['retrieval_text2image'] == pytest.approx({k: v for k, v in expected.items()
                                                             if not k.startswith('num_')}, abs=1e-12)


def test_subset_of_modalities_equals_features_without_the_others(full_run, trained, tmp_path):
    _, full = full_run
    _, checkpoint, options, model, cfg = trained
    _tool('test').main([CONFIG, str(checkpoint), '--work-dir', str(tmp_path), '--tasks', 'retrieval',
                        '--modalities', 'text', '--save-features',
                        '--cfg-options', f'data_root={options["data_root"]}'])
    results = json.loads((tmp_path / 'results.json').read_text())
    assert list(results) == ['retrieval_coarse', 'retrieval_fine', 'query_counts']
    query, gallery = load_features(str(tmp_path / 'features_query.npz')), \
        load_features(str(tmp_path / 'features_gallery.npz'))
    hand_q, _ = _hand_joint(model, cfg, 'query', keep=('text',))
    hand_g, _ = _hand_joint(model, cfg, 'gallery', keep=('text',))
    np.testing.assert_allclose(query['features'], hand_q, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gallery['features'], hand_g, rtol=1e-5, atol=1e-6)
    assert not any(query['present'][m].any() for m in MODALITIES if m != 'text')
    expected = retrieval_metrics(hand_q, hand_g, query['category'], gallery['category'],
                                 query_ids=query['ids'], gallery_ids=gallery['ids'])
    assert results['retrieval_coarse'] == pytest.approx(expected, abs=1e-6)
    full_query = load_features(str(full_run[0] / 'features_query.npz'))
    assert not np.allclose(query['features'], full_query['features'])


def test_extract_features_round_trip_feeds_the_search_index(trained, full_run, tmp_path):
    _, checkpoint, options, _, _ = trained
    path = _tool('extract_features').main([CONFIG, str(checkpoint), '--split', 'gallery', '--out',
                                           str(tmp_path / 'gallery.npz'), '--per-modality',
                                           '--cfg-options', f'data_root={options["data_root"]}'])
    data = load_features(path)
    reference = load_features(str(full_run[0] / 'features_gallery.npz'))   # tools/test.py's gallery features
    assert data['ids'] == reference['ids'] and all(isinstance(i, str) for i in data['ids'])
    assert data['features'].dtype == np.float32 and data['features'].shape == reference['features'].shape
    np.testing.assert_allclose(data['features'], reference['features'], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(data['category'], reference['category'])
    assert set(data['modality_features']) == set(MODALITIES) == set(data['present'])
    _tool('search_index').main(['build', '--features', path, '--out', str(tmp_path / 'index'),
                                '--backend', 'torch'])
    index = SearchIndex.load(str(tmp_path / 'index'))
    assert len(index) == len(data['ids'])
    hits = index.search(data['features'][:1], topk=3)
    assert hits.ids[0][0] == data['ids'][int(np.argmax(data['features'] @ data['features'][0]))]


def test_default_work_dir_and_a_converted_weights_file(trained, tmp_path):
    work_dir, checkpoint, options, _, _ = trained
    weights = save_model_state_dict(load_model_state_dict(checkpoint), tmp_path / 'weights' / 'scale.pt')
    _tool('test').main([CONFIG, str(weights), '--tasks', 'clustering', '--cfg-options',
                        f'data_root={options["data_root"]}'])
    made = sorted((tmp_path / 'weights').glob('test_*'))
    assert len(made) == 1 and list(json.loads((made[0] / 'results.json').read_text())) == ['clustering']


def test_bad_arguments_fail_clearly(trained, tmp_path):
    _, checkpoint, options, _, _ = trained
    tool = _tool('test')
    with pytest.raises(SystemExit, match='no checkpoint at'):
        tool.main([CONFIG, str(tmp_path / 'nothing'), '--cfg-options', f'data_root={options["data_root"]}'])
    with pytest.raises(SystemExit, match='QUERY:GALLERY'):
        tool.main([CONFIG, str(checkpoint), '--cross-modal', 'text', '--cfg-options',
                   f'data_root={options["data_root"]}'])


@pytest.mark.parametrize('tool_name', ['test', 'extract_features', 'convert_checkpoint'])
@pytest.mark.parametrize('layout', ['weights.pt', 'deepspeed_dir'])
def test_tools_refuse_planted_pickles_and_run_nothing(trained, tmp_path, tool_name, layout):
    from tests.test_engine.planted import assert_live, plant_torch_file
    _, _, options, _, _ = trained
    marker = tmp_path / 'pwned'
    if layout == 'weights.pt':
        target = plant_torch_file(tmp_path / 'weights.pt', marker)
    else:   # a folder shaped like a DeepSpeed ZeRO checkpoint (read by DeepSpeed's zero_to_fp32)
        target = tmp_path / 'ckpt'
        (target / 'pytorch_model').mkdir(parents=True)
        (target / 'latest').write_text('pytorch_model')
        for name in ('mp_rank_00_model_states.pt', 'zero_pp_rank_0_mp_rank_00_optim_states.pt'):
            plant_torch_file(target / 'pytorch_model' / name, marker)
    assert_live(next(p for p in target.rglob('*') if p.is_file() and p.suffix == '.pt') if target.is_dir()
                else target, marker)
    argv = {'test': [CONFIG, str(target), '--work-dir', str(tmp_path / 'out'), '--tasks', 'clustering'],
            'extract_features': [CONFIG, str(target), '--split', 'gallery', '--out', str(tmp_path / 'g.npz')],
            'convert_checkpoint': [str(target), '--out', str(tmp_path / 'w.safetensors')]}[tool_name]
    if tool_name != 'convert_checkpoint':
        argv += ['--cfg-options', f'data_root={options["data_root"]}']
    with pytest.raises(SystemExit, match='error: .*refuses to load this file'):
        _tool(tool_name).main(argv)
    assert not marker.exists()


def test_a_one_record_gallery_reports_its_skipped_queries(trained, tmp_path, caplog):
    import logging
    import os
    _, checkpoint, options, _, _ = trained
    source = options['data_root']
    root = tmp_path / 'data'
    root.mkdir()
    for sub in ('images', 'videos', 'audio', 'tokenizer'):
        os.symlink(os.path.join(source, sub), root / sub)
    kept = False
    with open(os.path.join(source, 'manifest.jsonl')) as src, open(root / 'manifest.jsonl', 'w') as dst:
        for line in src:
            record = json.loads(line)
            if record.get('split') == 'gallery':
                if kept:
                    continue
                kept = True
            dst.write(json.dumps(record) + '\n')
    with caplog.at_level(logging.WARNING, logger='m5mm'):
        _tool('test').main([CONFIG, str(checkpoint), '--work-dir', str(tmp_path / 'out'), '--tasks', 'retrieval',
                            '--cfg-options', f'data_root={root}'])
    counts = json.loads((tmp_path / 'out' / 'results.json').read_text())['query_counts']['retrieval_coarse']
    assert counts['scored'] < counts['skipped'] and counts['queries'] == 12
    assert f"retrieval_coarse: {counts['skipped']} of 12 queries were skipped" in caplog.text
