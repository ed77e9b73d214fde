"""tools/benchmark.py and m5mm.experiments.paper_tables: modality subsets, budgets, tables, an end-to-end run that
resumes (finished cells are not retrained, an interrupted cell continues from its checkpoint)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from m5mm.experiments.paper_tables import (BenchmarkMismatchError, BenchmarkSpec, Budget, Cell, Stat, aggregate,
                                           apply_budget, cell_config, comparison_tables, load_results, modality_code,
                                           parse_modality_set, parse_modality_sets, resolve_cell, restrict_modalities,
                                           run_benchmark)
from m5mm.experiments.paper_tables.runner import STARTED_FILE, _write_json
from m5mm.models.param_budget import build_model_from_config
from m5mm.utils.config import load_config
from tests.script_module import load_script

REPO = Path(__file__).resolve().parents[2]
FUSION = REPO / 'configs' / 'fusion'


def _load_tool():
    return load_script('tools/benchmark.py')


# ------------------------------------------------------------------ parsing

def test_modality_codes_parse_in_paper_order():
    assert parse_modality_set('T') == ('text',)
    assert parse_modality_set('I+T') == parse_modality_set('t+i') == ('text', 'image')
    assert parse_modality_set('T+I+Tab+V') == ('text', 'image', 'table', 'video')
    assert parse_modality_set('all') == ('text', 'image', 'table', 'video', 'audio')
    assert modality_code(('image', 'text', 'table')) == 'T+I+Tab'
    assert modality_code(('text', 'image', 'table', 'video', 'audio')) == 'all'
    assert parse_modality_sets('T,T+I,I+T,all') == [('text',), ('text', 'image'), parse_modality_set('all')]
    with pytest.raises(ValueError, match="unknown modality code 'X'"):
        parse_modality_set('T+X')
    with pytest.raises(ValueError, match='twice'):
        parse_modality_set('T+text')


def test_budget_parsing_and_steps_schedule(demo_root):
    assert Budget.parse('epochs=5') == Budget('epochs', 5)
    assert str(Budget.parse('steps=200')) == 'steps=200'
    for bad in ('5', 'epoch=5', 'steps=-1', 'epochs=0', 'steps=x'):
        with pytest.raises(ValueError, match='budget'):
            Budget.parse(bad)
    cfg, _ = cell_config(Cell('scale', ('text', 'image'), 0), data_root=str(demo_root), size='tiny')
    steps_budget = apply_budget(cfg, Budget('steps', 10), 3)
    assert steps_budget.train_cfg.max_epochs == 4 and steps_budget.scheduler.total_steps == 10
    epochs_budget = apply_budget(cfg, Budget('epochs', 2), 3)
    assert epochs_budget.train_cfg.max_epochs == 2 and 'total_steps' not in epochs_budget.scheduler


# ------------------------------------------------------------------ modality subsets

def _objectives(cfg) -> set:
    return set(build_model_from_config(cfg).objectives)


def test_subset_sets_the_model_modalities_and_dataset_fields():
    cfg = load_config(str(FUSION / 'single_stream_5mod.py'))
    sub, dropped = restrict_modalities(cfg, ('text', 'video'))
    assert sub.model.modalities == ['text', 'video']
    assert sorted(dropped) == ['mem', 'mfm_audio', 'mfm_image']       # the model's rule, told in advance
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert list(sub[loader].dataset.modalities) == ['text', 'video']
    model = build_model_from_config(sub)
    assert list(model.backbone.encoders) == ['text', 'video'] and _objectives(sub) == {'mlm', 'mfm_video'}
    assert model.dropped_objectives == dropped
    assert 'modalities' not in cfg.model                                          # input untouched


def test_subset_of_scale_derives_its_objectives_and_drops_cross_modal_ones_for_one_modality():
    cfg = load_config(str(FUSION / 'scale_5mod.py'))
    sub, dropped = restrict_modalities(cfg, ('text', 'image', 'table'))
    assert sub.model.get('objectives') is None and not dropped   # ScalePretrainer derives them
    assert _objectives(sub) == {'con', 'mlm', 'mem', 'mfm_image'}
    single, _ = restrict_modalities(cfg, ('text',))
    model = build_model_from_config(single)
    assert set(model.objectives) == {'mlm'} and model.dropped_objectives == ['con']   # contrastive needs two
    uniter, dropped = restrict_modalities(load_config(str(FUSION / 'uniter_5mod.py')), ('text',))
    assert _objectives(uniter) == {'mlm'} and 'match' in dropped
    with pytest.raises(ValueError, match='no objective of the model applies'):
        restrict_modalities(load_config(str(FUSION / 'clip_5mod.py')), ('text',))
    with pytest.raises(KeyError, match='no encoder for'):
        restrict_modalities(load_config(str(FUSION / 'clip_2mod.py')), ('text', 'audio'))


def test_contrastive_pairs_are_the_modalities_it_needs():
    cfg = load_config(str(FUSION / 'clip_5mod.py'))
    cfg.model.objectives.con.pairs = [['text', 'image'], ['text', 'audio']]
    sub, dropped = restrict_modalities(cfg, ('text', 'image', 'audio'))
    assert not dropped and _objectives(sub) == {'con'}
    with pytest.raises(ValueError, match=r"no objective .* \(dropped: \['con'\]\)"):
        restrict_modalities(cfg, ('text', 'image', 'video'))   # a pair names audio: CLIP has nothing to train


def test_cells_use_the_balanced_two_modality_configs_for_text_and_image(demo_root):
    _, info = cell_config(Cell('co_attention', ('text', 'image'), 0), data_root=str(demo_root))
    assert Path(info['config']).name == 'co_attention_2mod.py'
    _, info = cell_config(Cell('co_attention', ('text', 'image', 'table'), 0), data_root=str(demo_root))
    assert Path(info['config']).name == 'co_attention_5mod.py'
    with pytest.raises(FileNotFoundError, match='unknown method'):
        cell_config(Cell('nope', ('text',), 0), data_root=str(demo_root))
    tiny, _ = cell_config(Cell('capture', ('text', 'image'), 3), data_root=str(demo_root), size='tiny')
    assert tiny.seed == 3 and tiny.model.fusion.dim == 32 and tiny.model.encoders.text.num_layers == 1
    assert tiny.train_dataloader.dataset.data_root == str(demo_root)
    assert [h['type'] for h in tiny.hooks] == ['MetricsLoggerHook', 'CollapseMonitorHook', 'CheckpointHook']
    assert tiny.log_with is None
    assert tiny.train_dataloader.batch_size == 8   # the tiny preset's


def test_the_size_preset_keeps_what_the_user_set(demo_root):
    options = {'train_dataloader.batch_size': 16, 'model.fusion.dim': 48}
    tiny, _ = cell_config(Cell('capture', ('text', 'image'), 0), data_root=str(demo_root), size='tiny',
                          cfg_options=options)
    assert tiny.train_dataloader.batch_size == 16 and tiny.val_dataloader.batch_size == 8
    assert tiny.model.fusion.dim == 48 and tiny.model.encoders.text.num_layers == 1


# ------------------------------------------------------------------ tables

def test_stats_and_tables_against_hand_computed_values():
    assert math.isclose(Stat.of([0.5, 0.7]).std, math.sqrt(0.02)) and Stat.of([0.5, 0.7]).format() == '60.0 ± 14.1'
    assert Stat.of([0.25]).format() == '25.0'

    def result(method, code, seed, acc):
        metrics = {'classification': {'accuracy': acc, 'top5': 1.0}}
        return dict(method=method, label=method.upper(), code=code, seed=seed, metrics=metrics)
    results = [result('a', 'all', 0, 0.5), result('a', 'all', 1, 0.7), result('b', 'all', 0, 0.4),
               result('b', 'all', 1, 0.4), result('a', 'T', 0, 0.3)]
    agg = aggregate(results)
    assert agg[('a', 'all')]['seeds'] == [0, 1] and math.isclose(agg[('a', 'all')]['stats']['accuracy'].mean, 0.6)
    tables = comparison_tables(agg, ['a', 'b'], ['T', 'all'])
    assert [t['title'] for t in tables] == ['Method comparison, modalities all', 'Modality ablation, A']
    lines = tables[0]['markdown'].splitlines()
    assert lines[0] == '| method | seeds | accuracy |'
    assert lines[2] == '| A | 2 | **60.0 ± 14.1** |' and lines[3] == '| B | 2 | 40.0 ± 0.0 |'
    assert [t['kind'] for t in comparison_tables(agg, ['a', 'b'], ['T', 'all'], kinds=('methods',))] == ['methods']
    with pytest.raises(ValueError, match='unknown table kinds'):
        comparison_tables(agg, ['a'], ['T'], kinds=('rows',))


def test_precision_column_is_m5prec_also_for_results_recorded_before_the_rename():
    """The tables' precision column is M5Prec@10 (the paper's Prec@10); results recorded before the rename
    stored it as 'Prec@10' (no Recall@10 / M5Prec@10 keys), new ones also hold the standard Prec@10."""
    old = {'retrieval_coarse': {'mAP@10': 0.5, 'Prec@10': 0.8}}
    new = {'retrieval_coarse': {'mAP@10': 0.5, 'Prec@10': 0.2, 'Recall@10': 1.0, 'M5Prec@10': 0.9}}
    agg = aggregate([dict(method='old', label='OLD', code='T', seed=0, metrics=old),
                     dict(method='new', label='NEW', code='T', seed=0, metrics=new)])
    assert agg[('old', 'T')]['stats']['coarse M5Prec@10'].mean == 0.8
    assert agg[('new', 'T')]['stats']['coarse M5Prec@10'].mean == 0.9
    assert 'coarse Prec@10' not in agg[('new', 'T')]['stats']


# ------------------------------------------------------------------ end to end

def _values(metrics: dict):
    for task in metrics.values():
        yield from task.values()


def test_tool_end_to_end_then_rerun_skips_finished_cells(demo_root, tmp_path, capsys):
    tool = _load_tool()
    out = tmp_path / 'bench'
    argv = ['--methods', 'scale,clip', '--modalities', 'T+I,all', '--data-root', str(demo_root),
            '--budget', 'steps=2', '--seeds', '0', '--out', str(out), '--config-size', 'tiny', '--diagnose']
    first = tool.main(argv)
    assert len(first['trained']) == 4 and not first['skipped']
    data = json.loads((out / 'results.json').read_text())
    assert data['complete'] and len(data['cells']) == 4
    for cell in data['cells']:
        assert cell['steps'] == 2 and cell['budget'] == 'steps=2'
        assert {'retrieval_coarse', 'retrieval_fine', 'classification', 'clustering'} <= set(cell['metrics'])
        assert all(0.0 <= v <= 1.0 for v in _values(cell['metrics'])), cell['metrics']
    assert {c['code'] for c in data['cells']} == {'T+I', 'all'}
    for cell in data['cells']:   # the diagnosis's joint (dot product) is the benchmark's retrieval
        diagnosis = cell['diagnosis']
        assert diagnosis['retrieval']['joint']['dot'] == round(100 * cell['metrics']['retrieval_coarse']['mAP@1'], 2)
        assert {f'pooled:{m}' for m in cell['modalities']} <= set(diagnosis['retrieval'])
        assert all(-1.0 <= v['cos'] <= 1.0 for v in diagnosis['spread'].values())
        assert bool(diagnosis['harmonizer']) == (cell['method'] == 'scale')    # CLIP has no harmonizer
    table = (out / 'table.md').read_text()
    for title in ('Method comparison, modalities T+I', 'Method comparison, modalities all',
                  'Modality ablation, SCALE', 'Modality ablation, CLIP (late fusion)'):
        assert f'## {title}' in table
    assert 'coarse mAP@1' in table and 'purity' in table and table.split('## ')[1] in capsys.readouterr().out
    assert (out / 'plot.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    cell_dirs = sorted((out / 'cells').iterdir())
    assert len(cell_dirs) == 4 and not any((d / 'checkpoints').exists() for d in cell_dirs)
    stamps = {p: p.stat().st_mtime_ns for d in cell_dirs for p in d.iterdir()}

    again = tool.main(argv)
    assert not again['trained'] and len(again['skipped']) == 4
    assert sorted(r['seed'] for r in load_results(out)) == [0, 0, 0, 0]
    assert {p: p.stat().st_mtime_ns for d in cell_dirs for p in d.iterdir()} == stamps   # nothing retrained
    assert (out / 'table.md').read_text() == table

    with pytest.raises(SystemExit, match='different config') as info:     # one line, exit 2 (tools/ CLI)
        tool.main([a if a != 'steps=2' else 'steps=3' for a in argv])
    assert info.value.code == 2
    with pytest.raises(BenchmarkMismatchError, match='different config'):      # --debug: the exception itself
        tool.main([a if a != 'steps=2' else 'steps=3' for a in argv] + ['--debug'])


def test_interrupted_cell_resumes_from_its_checkpoint(demo_root, tmp_path):
    from m5mm.engine.trainer import Trainer
    spec = BenchmarkSpec(methods=['scale'], modality_sets=[('text', 'image')], seeds=[1], budget=Budget('steps', 3),
                         data_root=str(demo_root), out_dir=str(tmp_path / 'bench'), size='tiny')
    cell = spec.cells()[0]
    cfg, info = resolve_cell(cell, spec)
    cell_dir = tmp_path / 'bench' / 'cells' / cell.name
    cell_dir.mkdir(parents=True)
    _write_json(cell_dir / STARTED_FILE, dict(info))        # what run_cell writes before training
    Trainer(cfg, work_dir=str(cell_dir)).train(max_steps=1)  # ... then the process was stopped
    outcome = run_benchmark(spec)
    result = outcome['results'][0]
    assert outcome['trained'] == [cell.name] and result['resumed_from_step'] == 1 and result['steps'] == 3
    steps = [json.loads(line)['step'] for line in (cell_dir / 'metrics.jsonl').read_text().splitlines()]
    assert steps == [1, 2, 3]
