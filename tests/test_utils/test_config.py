"""Config loading: _base_ inheritance, --cfg-options, data_root retargeting, typo detection."""
import textwrap

import pytest

from m5mm.utils.config import ConfigError, load_config


@pytest.fixture()
def config_tree(tmp_path):
    (tmp_path / '_base_').mkdir()
    (tmp_path / '_base_' / 'data.py').write_text(textwrap.dedent("""
        data_root = 'data/demo'
        train_dataloader = dict(batch_size=4, dataset=dict(type='ManifestDataset', data_root=data_root,
                                                           split='train', manifest='data/demo/manifest.jsonl'))
        test_dataloader = dict(batch_size=4, dataset=dict(type='ManifestDataset', data_root=data_root,
                                                          split=['query', 'gallery'],
                                                          generate_if_missing=dict(type='demo', num_products=10)))
    """))
    (tmp_path / 'leaf.py').write_text(textwrap.dedent("""
        _base_ = ['_base_/data.py']
        train_cfg = dict(max_epochs=2)
        train_dataloader = dict(batch_size=8)
    """))
    return tmp_path


def test_base_inheritance_and_cfg_options(config_tree):
    cfg = load_config(str(config_tree / 'leaf.py'), {'train_cfg.max_epochs': 5})
    assert cfg.train_dataloader.batch_size == 8
    assert cfg.train_dataloader.dataset.split == 'train'
    assert cfg.train_cfg.max_epochs == 5


def test_data_root_retargets_every_dataset(config_tree):
    cfg = load_config(str(config_tree / 'leaf.py'), {'data_root': '/srv/catalogue'})
    for loader in ('train_dataloader', 'test_dataloader'):
        assert cfg[loader].dataset.data_root == '/srv/catalogue'
    assert cfg.train_dataloader.dataset.manifest is None
    assert cfg.test_dataloader.dataset.generate_if_missing is None
    assert cfg.data_root == '/srv/catalogue'


def test_misspelt_top_level_key_is_reported(config_tree):
    (config_tree / 'typo.py').write_text("_base_ = ['_base_/data.py']\ntrian_cfg = dict(max_epochs=1)\n")
    with pytest.raises(ConfigError, match="did you mean 'train_cfg'"):
        load_config(str(config_tree / 'typo.py'))


def test_missing_config_file_is_clear(tmp_path):
    with pytest.raises(ConfigError, match='Config file not found'):
        load_config(str(tmp_path / 'nope.py'))


def test_pretrained_root_moves_every_pretrained_model(tmp_path):
    (tmp_path / 'pre.py').write_text(textwrap.dedent("""
        pretrained_root = 'models'
        _vit = f'{pretrained_root}/vit'
        model = dict(encoders=dict(image=dict(type='PretrainedImageEncoder', pretrained=_vit),
                                   text=dict(type='PretrainedTextEncoder', pretrained='org/bert')))
        train_dataloader = dict(dataset=dict(type='ManifestDataset', data_root='data', manifest='feats/m.jsonl',
                                             tokenizer=dict(path=f'{pretrained_root}/bert'),
                                             modalities=dict(image=dict(pipeline=[
                                                 dict(type='ProcessImage', pretrained=_vit)]))))
    """))
    cfg = load_config(str(tmp_path / 'pre.py'), {'pretrained_root': '/srv/models', 'data_root': '/srv/data'})
    assert cfg.model.encoders.image.pretrained == '/srv/models/vit'
    assert cfg.model.encoders.text.pretrained == 'org/bert'  # a hub id, not under the root
    dataset = cfg.train_dataloader.dataset
    assert dataset.tokenizer.path == '/srv/models/bert'
    assert dataset.modalities.image.pipeline[0].pretrained == '/srv/models/vit'
    assert dataset.manifest == 'feats/m.jsonl'  # inside the data root: kept, now in /srv/data
    assert cfg.pretrained_root == '/srv/models'
    with pytest.raises(ConfigError, match='sets no top-level pretrained_root'):
        load_config(str(_plain_config(tmp_path)), {'pretrained_root': '/x'})


def _plain_config(tmp_path):
    path = tmp_path / 'plain.py'
    path.write_text("model = dict(type='ScalePretrainer')\n")
    return path


@pytest.mark.parametrize('option,message', [
    ({'train_cfg.max_epoch': 5}, "Unknown key train_cfg.max_epoch. Did you mean 'max_epochs'?"),
    ({'optim.accumulation_step': 4}, "Unknown key optim.accumulation_step. Did you mean 'accumulation_steps'?"),
    ({'train_dataloader.num_worker': 2}, "Unknown key train_dataloader.num_worker. Did you mean 'num_workers'?"),
    ({'test_dataloader.drop_last': True}, 'Unknown key test_dataloader.drop_last.'),
])
def test_typos_inside_the_sections_the_trainer_reads_are_reported(config_tree, option, message):
    with pytest.raises(ConfigError, match=message.replace('.', r'\.').replace('?', r'\?')):
        load_config(str(config_tree / 'leaf.py'), option)


def test_drop_last_is_a_train_dataloader_key(config_tree):
    assert load_config(str(config_tree / 'leaf.py'), {'train_dataloader.drop_last': False}).train_dataloader.drop_last \
        is False


def test_custom_imports_cannot_come_from_an_override(config_tree):
    with pytest.raises(ConfigError, match=r'custom_imports\.imports cannot be set with --cfg-options'):
        load_config(str(config_tree / 'leaf.py'), {'custom_imports.imports': ['antigravity']})
    (config_tree / 'imports.py').write_text("_base_ = ['leaf.py']\ncustom_imports = dict(imports=['json'])\n")
    assert load_config(str(config_tree / 'imports.py')).custom_imports.imports == ['json']


@pytest.mark.parametrize('option,hint', [
    ({'custom_hooks': ['dict(type=EvaluationHook)']}, r'add hooks in a config file \(custom_hooks = \[dict'),
    ({'default_hooks.extra': 'dict(type=EvaluationHook)'}, r'add hooks in a .*default_hooks\.NAME\.KEY=VALUE'),
    ({'model.fusion': 'dict(type="ScaleFusion", dim=8)'}, r'set its entries one by one \(model\.fusion\.KEY=VALUE\)'),
])
def test_python_in_an_override_is_a_clear_error(config_tree, option, hint):
    key = next(iter(option))
    with pytest.raises(ConfigError, match=rf'--cfg-options {key}: .* is Python, which --cfg-options does not '
                                          rf'evaluate .*; {hint}'):
        load_config(str(config_tree / 'leaf.py'), option)


def test_one_top_level_on_bad_line_covers_every_dataset(config_tree):
    cfg = load_config(str(config_tree / 'leaf.py'), {'on_bad_line': 'skip'})
    assert cfg.train_dataloader.dataset.on_bad_line == cfg.test_dataloader.dataset.on_bad_line == 'skip'
    (config_tree / 'skip.py').write_text("_base_ = ['leaf.py']\non_bad_line = 'skip'\n"
                                         "train_dataloader = dict(dataset=dict(on_bad_line='error'))\n")
    assert load_config(str(config_tree / 'skip.py')).train_dataloader.dataset.on_bad_line == 'skip'
    with pytest.raises(ConfigError, match="on_bad_line must be 'error' or 'skip'"):
        load_config(str(config_tree / 'leaf.py'), {'on_bad_line': 'ignore'})
