"""The training loop on real demo files: loss goes down, resume is exact, outputs land in the work dir."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch
from PIL import Image

from m5mm.engine import run_training
from m5mm.checkpoint.manager import latest_checkpoint, list_checkpoints
from tests.conftest import REPO


def _opts(demo_root, **extra):
    return {'data_root': str(demo_root), **extra}


def _weights(trainer) -> dict:
    model = trainer.accelerator.unwrap_model(trainer.model)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_training_lowers_the_loss_and_fills_the_work_dir(demo_root, tiny_config, tmp_path):
    work_dir = tmp_path / 'run'
    trainer = run_training(tiny_config, work_dir=str(work_dir),
                           cfg_options=_opts(demo_root, **{'train_cfg.max_epochs': 6}))
    records = [json.loads(line) for line in (work_dir / 'metrics.jsonl').read_text().splitlines()]
    assert [r['step'] for r in records] == list(range(1, trainer.total_steps + 1))
    for key in ('epoch', 'lr', 'loss', 'loss_con', 'loss_mlm', 'loss_mem', 'loss_mfm_image', 'samples_per_s'):
        assert key in records[0]
    per_epoch = {}
    for r in records:
        per_epoch.setdefault(r['epoch'], []).append(r['loss'])
    first, last = (sum(v) / len(v) for v in (per_epoch[0], per_epoch[max(per_epoch)]))
    assert last < 0.9 * first, f'loss did not go down: epoch 0 {first:.3f} -> last {last:.3f}'
    weights = json.loads((work_dir / 'modality_weights.json').read_text())
    assert len(weights) == 6 and set(weights[0]['weights']) == {'image', 'text', 'table', 'video', 'audio'}
    assert (work_dir / 'modality_weights.png').stat().st_size > 0
    with Image.open(work_dir / 'curves.png') as curves:   # losses per step (no per-epoch evaluation here)
        assert curves.format == 'PNG' and curves.size == (600, 350)
    assert (work_dir / 'config.py').is_file() and (work_dir / 'train.log').is_file()
    assert len(list_checkpoints(str(work_dir))) == 3  # max_keep


def _write_config(path, hooks: str, extra: str = '') -> str:
    path.write_text(f"_base_ = [{str(REPO / 'configs' / 'scale_5mod_tiny.py')!r}]\n"
                    "custom_imports = dict(imports=['tests.test_engine.stop_hooks'])\n"
                    f"hooks = [{hooks}]\n{extra}")
    return str(path)


RUN_HOOKS = ("dict(type='MetricsLoggerHook', interval=1), dict(type='ProgressBarHook', disable=True), "
             "dict(type='RunSummaryHook'), dict(type='ModalityWeightHook'), dict(type='MediaReportHook'), "
             "dict(type='CheckpointHook', interval=2, by_epoch=True, max_keep=0)")


def _rows(work_dir) -> list:
    return [json.loads(line) for line in (work_dir / 'metrics.jsonl').read_text().splitlines()]


def test_a_run_killed_mid_epoch_resumes_exactly_and_its_logs_describe_the_whole_run(demo_root, tmp_path):
    options = _opts(demo_root, **{'train_cfg.max_epochs': 2, 'optim.optimizer.lr': 3e-3})
    straight_cfg = _write_config(tmp_path / 'straight.py', RUN_HOOKS)
    killed_cfg = _write_config(tmp_path / 'killed.py', RUN_HOOKS + ", dict(type='KillAtStepHook', step=5)")
    straight = run_training(straight_cfg, work_dir=str(tmp_path / 'straight'), cfg_options=options)
    assert straight.total_steps == 6 and straight.steps_per_epoch == 3
    work_dir = tmp_path / 'resumed'
    # killed with SIGKILL after step 5 was logged: the newest checkpoint is step 4 (mid-epoch 1)
    cmd = [sys.executable, str(REPO / 'tools' / 'train.py'), killed_cfg, '--work-dir', str(work_dir), '--cfg-options',
           *[f'{k}={v}' for k, v in options.items()]]
    killed = subprocess.run(cmd, env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True,
                            timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert [r['step'] for r in _rows(work_dir)] == [1, 2, 3, 4, 5]
    assert latest_checkpoint(str(work_dir)).name == 'step_00000004'
    config_text = (work_dir / 'config.py').read_text()

    resumed = run_training(killed_cfg, work_dir=str(work_dir), cfg_options=options, resume='auto')
    assert resumed.state.step == 6
    expected, got = _weights(straight), _weights(resumed)
    assert expected.keys() == got.keys()
    different = [k for k in expected if not torch.equal(expected[k], got[k])]
    assert not different, f'{len(different)} tensors differ after resuming, e.g. {different[:3]}'
    # metrics.jsonl: one row per step (step 5, trained again, is not duplicated) with the same values
    rows, reference = _rows(work_dir), _rows(tmp_path / 'straight')
    assert [r['step'] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r['loss'] for r in rows] == [r['loss'] for r in reference]
    # the epoch cut by the kill is averaged over all its steps, as in the uninterrupted run
    weights = json.loads((work_dir / 'modality_weights.json').read_text())
    assert weights == json.loads((tmp_path / 'straight' / 'modality_weights.json').read_text())
    media = json.loads((work_dir / 'media_report.json').read_text())['train']['epochs']
    assert [(e['epoch'], e['complete'], e['samples_read'], e['samples_not_read']) for e in media] == \
        [(0, True, 24, 1), (1, True, 24, 1)]   # drop_last (the default) leaves one of the 25 out
    summary = json.loads((work_dir / 'summary.json').read_text())
    assert summary['steps'] == 6 and summary['finished'] and summary['launches'] == 2
    assert [(s['from_step'], s['to_step']) for s in summary['segments']] == [(0, 4), (4, 6)]
    assert (work_dir / 'config.py').read_text() == config_text   # the original config is kept
    record = [json.loads(line) for line in (work_dir / 'resumes.jsonl').read_text().splitlines()]
    assert len(record) == 1 and record[0]['step'] == 4 and record[0]['changed'] == []

    # --resume of the finished run: nothing is trained, rewritten or evaluated again
    stamps = {p.name: p.stat().st_mtime_ns for p in work_dir.iterdir() if p.is_file() and p.name != '.m5mm.lock'}
    again = run_training(killed_cfg, work_dir=str(work_dir), cfg_options=options, resume='auto')
    assert again.state.step == 6
    assert 'Nothing to train' in (work_dir / 'train.log').read_text()
    assert {p.name: p.stat().st_mtime_ns for p in work_dir.iterdir() if p.is_file()
            and p.name not in ('.m5mm.lock', 'train.log', 'resumes.jsonl')} == \
        {k: v for k, v in stamps.items() if k not in ('train.log', 'resumes.jsonl')}


def test_a_checkpoint_killed_while_saving_is_ignored(demo_root, tiny_config, tmp_path):
    work_dir = tmp_path / 'run'
    options = _opts(demo_root, **{'train_cfg.max_epochs': 1})
    run_training(tiny_config, work_dir=str(work_dir), cfg_options=options, max_steps=2)
    good = latest_checkpoint(str(work_dir))
    partial = good.parent / 'step_00000099.tmp'  # what a run killed during save_state leaves
    partial.mkdir()
    (partial / 'model.bin').write_bytes(b'half a file')
    assert latest_checkpoint(str(work_dir)) == good
    resumed = run_training(tiny_config, work_dir=str(work_dir), cfg_options=options, resume='auto')
    assert resumed.state.step == resumed.total_steps > 2


def test_resume_from_a_path_that_is_not_a_checkpoint_is_clear(demo_root, tiny_config, tmp_path):
    with pytest.raises(FileNotFoundError, match='not a complete m5mm checkpoint'):
        run_training(tiny_config, work_dir=str(tmp_path / 'run'), cfg_options=_opts(demo_root),
                     resume=str(tmp_path))


def test_load_from_starts_a_new_run_from_converted_weights(demo_root, tiny_config, tmp_path):
    from m5mm.checkpoint.weights import load_model_state_dict, save_model_state_dict
    first = run_training(tiny_config, work_dir=str(tmp_path / 'first'), cfg_options=_opts(demo_root), max_steps=2)
    weights = tmp_path / 'weights.pt'
    save_model_state_dict(load_model_state_dict(latest_checkpoint(str(tmp_path / 'first'))), weights)
    second = run_training(tiny_config, work_dir=str(tmp_path / 'second'),
                          cfg_options=_opts(demo_root, load_from=str(weights)), max_steps=0)
    assert second.state.step == 0
    expected, got = _weights(first), _weights(second)
    assert all(torch.equal(expected[k], got[k]) for k in expected)


def test_gradient_accumulation_counts_optimizer_steps(demo_root, tiny_config, tmp_path):
    plain = run_training(tiny_config, work_dir=str(tmp_path / 'plain'), cfg_options=_opts(demo_root), max_steps=0)
    accumulated = run_training(tiny_config, work_dir=str(tmp_path / 'acc'),
                               cfg_options=_opts(demo_root, **{'optim.accumulation_steps': 2}))
    assert accumulated.steps_per_epoch == -(-plain.steps_per_epoch // 2)
    records = [json.loads(line) for line in (tmp_path / 'acc' / 'metrics.jsonl').read_text().splitlines()]
    assert [r['step'] for r in records] == list(range(1, accumulated.total_steps + 1))
    batches_per_epoch = plain.steps_per_epoch  # every batch is consumed, two per optimizer step
    assert accumulated.state.samples == batches_per_epoch * 8 * accumulated.max_epochs


@pytest.fixture(scope='module')
def two_checkpoints(demo_root, tmp_path_factory):
    """A work dir stopped at step 2 with checkpoints at steps 1 and 2 (copied by the tests that damage it)."""
    work_dir = tmp_path_factory.mktemp('two') / 'run'
    config = _write_config(work_dir.parent / 'every_step.py', RUN_HOOKS.replace('interval=2', 'interval=1'))
    run_training(config, work_dir=str(work_dir), cfg_options=_opts(demo_root), max_steps=2)
    return config, work_dir


def _copy(work_dir, tmp_path):
    import shutil
    target = tmp_path / 'run'
    shutil.copytree(work_dir, target)
    return target


def test_a_damaged_newest_checkpoint_is_an_error_or_an_announced_fallback(two_checkpoints, demo_root, tmp_path):
    from m5mm.checkpoint.safe_load import CheckpointError
    from tests.test_engine.planted import assert_live, plant_in_checkpoint, plant_raw_pickle
    config, original = two_checkpoints
    work_dir = _copy(original, tmp_path)
    newest = work_dir / 'checkpoints' / 'step_00000002'
    marker = tmp_path / 'pwned'
    # what Accelerate unpickled (weights_only=False) on resume: now never read
    plant_raw_pickle(newest / 'custom_checkpoint_0.pkl', marker)
    assert_live(newest / 'custom_checkpoint_0.pkl', marker)
    plant_in_checkpoint(newest, 'rng_0.json', marker, raw=True)   # random states that cannot be restored
    with pytest.raises(CheckpointError, match='rng_0.json: not valid JSON'):
        run_training(config, work_dir=str(work_dir), cfg_options=_opts(demo_root), resume=str(newest))
    assert 'The run stopped: CheckpointError' in (work_dir / 'train.log').read_text()
    resumed = run_training(config, work_dir=str(work_dir), cfg_options=_opts(demo_root), resume='auto', max_steps=3)
    log = (work_dir / 'train.log').read_text()
    assert 'FALLING BACK to the previous complete checkpoint' in log and 'step_00000001' in log
    assert resumed.state.step == 3 and not marker.exists()
    assert [r['step'] for r in _rows(work_dir)] == [1, 2, 3]


@pytest.mark.parametrize('name', ['model.safetensors', 'optimizer.pt'])
def test_a_newest_checkpoint_damaged_in_place_falls_back_naming_the_file(two_checkpoints, demo_root, tmp_path, name):
    from tests.test_engine.planted import flip_a_stored_byte
    config, original = two_checkpoints
    work_dir = _copy(original, tmp_path)
    newest = work_dir / 'checkpoints' / 'step_00000002'
    flip_a_stored_byte(newest / name)   # same size: only its sha256 tells
    resumed = run_training(config, work_dir=str(work_dir), cfg_options=_opts(demo_root), resume='auto', max_steps=3)
    log = (work_dir / 'train.log').read_text()
    assert f'{newest / name}: its sha256 differs from the one meta.json recorded' in log
    assert 'FALLING BACK to the previous complete checkpoint' in log and 'step_00000001' in log
    assert resumed.state.step == 3 and [r['step'] for r in _rows(work_dir)] == [1, 2, 3]
    assert json.loads((work_dir / 'resumes.jsonl').read_text().splitlines()[-1])['step'] == 1


def test_resume_keeps_the_config_records_overrides_and_refuses_another_experiment(
        two_checkpoints, demo_root, tmp_path):
    from m5mm.utils.config import ConfigError
    config, original = two_checkpoints
    work_dir = _copy(original, tmp_path)
    config_text = (work_dir / 'config.py').read_text()
    with pytest.raises(ConfigError, match='changes the model or the training data: train_dataloader.batch_size'):
        run_training(config, work_dir=str(work_dir), resume='auto', max_steps=2,
                     cfg_options=_opts(demo_root, **{'train_dataloader.batch_size': 4}))
    with pytest.raises(ConfigError, match='already holds a run'):   # not resuming: never overwritten
        run_training(config, work_dir=str(work_dir), cfg_options=_opts(demo_root), max_steps=1)
    options = _opts(demo_root, **{'optim.optimizer.lr': 5e-4})
    trainer = run_training(config, work_dir=str(work_dir), resume='auto', max_steps=2, cfg_options=options)
    assert trainer.state.step == 2 and (work_dir / 'config.py').read_text() == config_text
    record = json.loads((work_dir / 'resumes.jsonl').read_text().splitlines()[-1])
    assert record['cfg_options']['optim.optimizer.lr'] == 5e-4
    assert record['changed'] == ['optim.optimizer.lr: 0.001 -> 0.0005']
    changed = run_training(config, work_dir=str(work_dir), resume='auto', max_steps=2, allow_config_change=True,
                           cfg_options=_opts(demo_root, **{'train_dataloader.batch_size': 4}))
    assert changed.state.step == 2


def test_an_override_naming_an_unregistered_type_runs_nothing(demo_root, tiny_config, tmp_path):
    from m5mm.utils.build import UnknownModuleError
    marker = tmp_path / 'pwned'
    with pytest.raises(UnknownModuleError, match="'os.system' is not registered in the m5mm 'hook' registry"):
        run_training(tiny_config, work_dir=str(tmp_path / 'run'), max_steps=1,
                     cfg_options=_opts(demo_root, **{'default_hooks.summary.type': 'os.system',
                                                     'default_hooks.summary.command': f'touch {marker}'}))
    assert not marker.exists()


def test_load_from_a_planted_pickle_is_refused(demo_root, tiny_config, tmp_path):
    from m5mm.checkpoint.safe_load import CheckpointError
    from tests.test_engine.planted import assert_live, plant_torch_file
    marker = tmp_path / 'pwned'
    weights = plant_torch_file(tmp_path / 'weights.pt', marker)
    assert_live(weights, marker)
    with pytest.raises(CheckpointError, match='refuses to load'):
        run_training(tiny_config, work_dir=str(tmp_path / 'run'), max_steps=1,
                     cfg_options=_opts(demo_root, load_from=str(weights)))
    assert not marker.exists()


def _derived_root(demo_root, root, change) -> str:
    """A data root sharing ``demo_root``'s media, with each manifest record passed through ``change``
    (returns the record, or None to drop it)."""
    from m5mm.datasets import ManifestDataset
    ManifestDataset(data_root=str(demo_root), tokenizer=dict(vocab_size=500))   # its tokenizer, as training makes it
    root.mkdir()
    for sub in ('images', 'videos', 'audio', 'tokenizer'):
        if (demo_root / sub).exists():
            os.symlink(demo_root / sub, root / sub)
    (root / 'broken').mkdir()
    (root / 'broken' / 'image.jpg').write_bytes(b'\xff\xd8 not really a jpeg')
    with open(demo_root / 'manifest.jsonl') as src, open(root / 'manifest.jsonl', 'w') as dst:
        for line in src:
            record = change(json.loads(line))
            if record is not None:
                dst.write(json.dumps(record) + '\n')
    return str(root)


def test_an_empty_train_split_fails_before_the_model_is_built(demo_root, tiny_config, tmp_path, monkeypatch):
    import m5mm.engine.trainer as trainer_module
    root = _derived_root(demo_root, tmp_path / 'data', lambda r: r if r.get('split') in ('query', 'gallery') else None)
    monkeypatch.setattr(trainer_module, 'build_model', lambda *a, **k: pytest.fail('the model was built'))
    with pytest.raises(ValueError, match=r"train data is empty: split \['train'\] of .*data/manifest.jsonl"):
        run_training(tiny_config, work_dir=str(tmp_path / 'run'), cfg_options={'data_root': root})
    log = (tmp_path / 'run' / 'train.log').read_text()
    assert 'The run stopped: ValueError: The train data is empty' in log and 'Traceback' in log


def test_drop_last_is_configurable_media_are_counted_per_epoch_and_an_empty_query_skips_evaluation(
        demo_root, tiny_config, tmp_path, caplog):
    def change(record):
        if record.get('split') == 'query':
            return None
        if record.get('split', 'train') == 'train':
            record['image'] = 'broken/image.jpg'
        return record
    root = _derived_root(demo_root, tmp_path / 'data', change)
    options = {'data_root': root, 'train_cfg.max_epochs': 1, 'train_dataloader.drop_last': False}
    with caplog.at_level('WARNING', logger='m5mm'):
        run_training(tiny_config, work_dir=str(tmp_path / 'run'), cfg_options=options, max_steps=2)
        part = json.loads((tmp_path / 'run' / 'media_report.json').read_text())['train']['epochs']
        assert [(e['complete'], e['samples_read'], e['errors_total']) for e in part] == [(False, 16, 16)]
        trainer = run_training(tiny_config, work_dir=str(tmp_path / 'run'), cfg_options=options, resume='auto')
    assert trainer.state.step == trainer.total_steps == 4   # 25 samples in batches of 8: the last one of 1
    media = json.loads((tmp_path / 'run' / 'media_report.json').read_text())['train']
    assert media['samples_in_split'] == 25
    assert [(e['epoch'], e['complete'], e['samples_read'], e['errors']) for e in media['epochs']] == \
        [(0, True, 25, {'image': {'corrupt image': 25}})]   # the part before --max-steps is carried over
    assert "Evaluation 'retrieval' is skipped: its split(s) 'query' have no record" in caplog.text
    assert not (tmp_path / 'run' / 'results.json').exists()


def test_the_exception_that_stops_a_run_is_in_its_train_log(demo_root, tmp_path):
    config = _write_config(tmp_path / 'fail.py', RUN_HOOKS + ", dict(type='FailAtStepHook', step=1)")
    with pytest.raises(RuntimeError, match='planned failure at step 1'):
        run_training(config, work_dir=str(tmp_path / 'run'), cfg_options=_opts(demo_root))
    log = (tmp_path / 'run' / 'train.log').read_text()
    assert 'The run stopped: RuntimeError: planned failure at step 1' in log and 'stop_hooks.py' in log
