"""Loading a training run reads its config.json as data: a planted config.py never runs, a config.json that
names code is refused, and a damaged checkpoint file is refused by name (the API and the tools)."""
import json
import shutil

import numpy as np
import pytest

from m5mm.api import ProductEncoder
from m5mm.api.run_loader import load_run
from m5mm.checkpoint.safe_load import CheckpointError
from tests.conftest import REPO
from tests.script_module import load_script
from tests.test_engine.planted import flip_a_stored_byte, record_in_meta

RECORDS = [dict(id='a', text='red sneakers', table=[['color', 'red']]), dict(id='b', text='teapot')]
STEP = 'checkpoints/step_00000002'


def _tool(name):
    return load_script(f'tools/{name}.py')


def _copy_run(tiny_work_dir, tmp_path):
    work_dir = shutil.copytree(tiny_work_dir, tmp_path / 'run')
    return work_dir, work_dir / STEP


def _plant(config_py, marker):
    """Append a line that creates ``marker`` when the config is executed."""
    with open(config_py, 'a') as handle:
        handle.write(f"\n_planted = open({str(marker)!r}, 'w').write('ran')\n")


def _features(encoder):
    return encoder.encode(RECORDS, progress=False).features


def test_loading_a_run_never_runs_its_config_py(tiny_work_dir, demo_root, tmp_path):
    work_dir, checkpoint = _copy_run(tiny_work_dir, tmp_path)
    marker = tmp_path / 'ran'
    _plant(checkpoint / 'config.py', marker)
    _plant(work_dir / 'config.py', marker)
    trained = ProductEncoder.from_pretrained(tiny_work_dir, config=REPO / 'configs' / 'scale_5mod_tiny.py',
                                             cfg_options={'data_root': str(demo_root)})   # the config it trained
    expected = _features(trained)
    for path in (checkpoint, work_dir):
        encoder = ProductEncoder.from_pretrained(path, device='cpu')
        assert not marker.exists(), f'loading {path} ran its config.py'
        assert encoder.model.modalities == trained.model.modalities == ['image', 'text', 'table', 'video', 'audio']
        np.testing.assert_array_equal(_features(encoder), expected)
    run = load_run(checkpoint)
    assert run.provenance['config'] == str((checkpoint / 'config.json').resolve()) and run.provenance['step'] == 2
    _tool('export_model').main([str(work_dir), '--out', str(tmp_path / 'model'), '--no-eval'])
    np.testing.assert_array_equal(_features(ProductEncoder.from_pretrained(tmp_path / 'model')), expected)
    with pytest.raises(SystemExit, match='no LoRA adapters to merge'):   # built from config.json, then refused
        _tool('convert_checkpoint').main([str(checkpoint), '--out', str(tmp_path / 'm.pt'), '--merge-lora'])
    _tool('test').main([str(checkpoint / 'config.json'), str(checkpoint), '--work-dir', str(tmp_path / 'test'),
                        '--tasks', 'clustering'])
    assert list(json.loads((tmp_path / 'test' / 'results.json').read_text())) == ['clustering']
    assert not marker.exists()
    ProductEncoder.from_pretrained(checkpoint, config=checkpoint / 'config.py')   # named by the user: it runs
    assert marker.read_text() == 'ran'


def test_without_config_json_the_config_py_is_not_run_in_its_place(tiny_work_dir, tmp_path):
    work_dir, checkpoint = _copy_run(tiny_work_dir, tmp_path)
    marker = tmp_path / 'ran'
    _plant(checkpoint / 'config.py', marker)
    (checkpoint / 'config.json').unlink()
    run = load_run(checkpoint)                                 # the work dir's config.json instead
    assert run.provenance['config'] == str((work_dir / 'config.json').resolve())
    (work_dir / 'config.json').unlink()
    with pytest.raises(FileNotFoundError, match=r'no config.json next to .*config.py, which m5mm does not run '
                                                r'unless you name it.*explicitly'):
        ProductEncoder.from_pretrained(checkpoint)
    assert not marker.exists()


@pytest.mark.parametrize('change,message', [
    (lambda c: c['model']['fusion'].update(type='os.system'),
     r"config.model.fusion: type 'os.system' is not a registered name"),
    (lambda c: c['model']['encoders']['text'].update(type='m5mm_planted.module.Encoder'),
     r"type 'm5mm_planted.module.Encoder' is not a registered name"),
    (lambda c: c.update(custom_imports=dict(imports=['m5mm_planted_module'])),
     r"config: 'custom_imports' is not allowed in a run's saved config.json"),
    (lambda c: c['train_dataloader']['dataset'].update(_scope_='m5mm_planted_module'),
     r"'_scope_' is not allowed"),
])
def test_a_saved_config_that_names_code_is_refused(tiny_work_dir, tmp_path, change, message):
    _, checkpoint = _copy_run(tiny_work_dir, tmp_path)
    config = json.loads((checkpoint / 'config.json').read_text())
    change(config)
    (checkpoint / 'config.json').write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r'config.json: .*meta.json recorded'):   # meta.json not rewritten
        ProductEncoder.from_pretrained(checkpoint)
    record_in_meta(checkpoint, 'config.json')   # as someone with write access would
    with pytest.raises(CheckpointError, match=message + r'.*give the training config you trust explicitly'):
        ProductEncoder.from_pretrained(checkpoint)
    with pytest.raises(SystemExit, match=message):
        _tool('export_model').main([str(checkpoint), '--out', str(tmp_path / 'model'), '--no-eval'])


def test_a_checkpoint_damaged_in_place_is_refused_naming_the_file(tiny_work_dir, tmp_path):
    _, checkpoint = _copy_run(tiny_work_dir, tmp_path)
    weights = checkpoint / 'model.safetensors'
    flip_a_stored_byte(weights)
    with pytest.raises(CheckpointError, match=rf'{weights}: its sha256 differs from the one meta.json recorded'):
        ProductEncoder.from_pretrained(checkpoint)
    with pytest.raises(SystemExit, match=r'error: .*model.safetensors: its sha256 differs'):
        _tool('convert_checkpoint').main([str(checkpoint), '--out', str(tmp_path / 'w.safetensors')])
    with pytest.raises(SystemExit, match=r'error: .*model.safetensors: its sha256 differs'):
        _tool('test').main([str(checkpoint / 'config.json'), str(checkpoint), '--work-dir', str(tmp_path / 't'),
                            '--tasks', 'clustering'])
