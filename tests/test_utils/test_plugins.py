"""Plugins: real distributions with ``m5mm.plugins`` entry points, written into a folder on sys.path.

importlib.metadata finds a ``*.dist-info`` folder on ``sys.path`` exactly as it finds a pip-installed
package, so these tests exercise discovery, import, failure reporting and the tools end to end.
"""
from __future__ import annotations

import json
import logging
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from m5mm.datasets import collate
from m5mm.datasets.data_argument import dataset_cfg_from_target
from m5mm.utils.plugins import import_config_modules
from m5mm.registry import HOOKS, MODALITIES, all_registries
from m5mm.utils import plugins
from m5mm.utils.build import UnknownModuleError
from m5mm.utils.inventory import format_plugins
from m5mm.utils.config import load_config
from m5mm.utils.plugins import IncompatiblePluginError, m5mm_config_path, require_m5mm
from tests.script_module import load_script

REPO = Path(__file__).resolve().parents[2]
PREFIX = 'm5mm_testplugin_'

GOOD = '''
from m5mm.engine.hooks.base import Hook
from m5mm.registry import HOOKS
__version__ = '9.9'

@HOOKS.register_module()
class TestPluginHook(Hook):
    """A hook from a plugin."""
    def __init__(self, *, every: int = 1) -> None:
        self.every = every
'''
TOY_MODALITY = '''
import torch
from m5mm.datasets.modalities import KeySpec, ModalitySpec
from m5mm.registry import MODALITIES

@MODALITIES.register_module(name='toy')
class ToyModality(ModalitySpec):
    """A sixth modality: ``values (L, 2)`` per sample."""
    name = 'toy'
    keys = (KeySpec('values', pad=0.0, shape=(2,), dtype=torch.float32),)
    mask_key = 'value_mask'
'''
BROKEN = '''
import m5mm_testplugin_missing_dependency  # noqa: F401
'''
INCOMPATIBLE = '''
from m5mm.utils.plugins import require_m5mm
require_m5mm('>=99.0', plugin='m5mm-testplugin-future')
'''
WITH_HOOK = '''
from m5mm.registry import HOOKS
from m5mm.engine.hooks.base import Hook

def register():
    @HOOKS.register_module()
    class RegisterCalledHook(Hook):
        """Registered by the entry point's function."""
'''


def make_distribution(root: Path, name: str, *, version: str = '1.0.0', entry_points: dict,
                      modules: dict) -> None:
    """Write modules and a ``name-version.dist-info`` with ``entry_points.txt`` into ``root``."""
    for module, source in modules.items():
        (root / module).mkdir()
        (root / module / '__init__.py').write_text(textwrap.dedent(source))
    dist = root / f'{name.replace("-", "_")}-{version}.dist-info'
    dist.mkdir()
    (dist / 'METADATA').write_text(f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n')
    lines = [f'{ep} = {target}' for ep, target in entry_points.items()]
    (dist / 'entry_points.txt').write_text('[m5mm.plugins]\n' + '\n'.join(lines) + '\n')


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A folder on sys.path for test distributions; plugin state and registries restored afterwards."""
    plugins.load_plugins()  # really installed plugins stay loaded and registered
    registries = all_registries()
    for reg in registries.values():
        reg.import_from_location()
    saved = {name: dict(reg._module_dict) for name, reg in registries.items()}
    monkeypatch.setattr(plugins, '_STATUS', dict(plugins._STATUS))
    monkeypatch.setattr(plugins, '_DISCOVERED', False)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name, reg in registries.items():
        reg._module_dict.clear()
        reg._module_dict.update(saved[name])
    for module in [m for m in sys.modules if m.startswith(PREFIX)]:
        del sys.modules[module]


def _good_and_broken(root: Path) -> None:
    make_distribution(root, 'm5mm-testplugin-good', version='1.2.3', entry_points={'good': PREFIX + 'good'},
                      modules={PREFIX + 'good': GOOD})
    make_distribution(root, 'm5mm-testplugin-broken', version='0.0.1',
                      entry_points={'broken': PREFIX + 'broken'}, modules={PREFIX + 'broken': BROKEN})


def test_installed_plugins_are_imported_when_m5mm_builds(plugin_dir, caplog):
    _good_and_broken(plugin_dir)
    with caplog.at_level(logging.WARNING, logger='m5mm'):
        hook = HOOKS.build(dict(type='TestPluginHook', every=3))   # discovery happens on the first build
    assert type(hook).__module__ == PREFIX + 'good' and hook.every == 3
    good, broken = plugins.plugin_status()['good'], plugins.plugin_status()['broken']
    assert good.loaded and good.distribution == 'm5mm-testplugin-good' and good.version == '1.2.3'
    assert good.registered == {'hook': ['TestPluginHook']}
    assert not broken.loaded and broken.registered == {}
    assert broken.error == f"ModuleNotFoundError: No module named '{PREFIX}missing_dependency'"
    assert any('broken' in r.getMessage() and 'failed to import' in r.getMessage() for r in caplog.records)


def test_a_run_that_does_not_need_a_broken_plugin_works_one_that_does_names_it(plugin_dir):
    _good_and_broken(plugin_dir)
    assert type(HOOKS.build(dict(type='CheckpointHook'))).__name__ == 'CheckpointHook'
    with pytest.raises(UnknownModuleError) as err:
        HOOKS.build(dict(type='BrokenPluginHook'))
    message = str(err.value)
    assert "'BrokenPluginHook' is not registered in the m5mm 'hook' registry" in message
    assert 'plugins: ' in message and 'good 1.2.3' in message and 'broken (failed to import)' in message
    assert (f"Plugins that failed to import and may provide it: broken ({PREFIX}broken): "
            f"ModuleNotFoundError: No module named '{PREFIX}missing_dependency'") in message
    assert 'list_modules.py --plugins' in message


def test_list_modules_shows_versions_registrations_and_failures(plugin_dir, capsys):
    _good_and_broken(plugin_dir)
    text = format_plugins()
    assert f'good (m5mm-testplugin-good 1.2.3): loaded from {PREFIX}good\n  hook: TestPluginHook' in text
    assert (f"broken (m5mm-testplugin-broken 0.0.1): FAILED to import {PREFIX}broken: "
            f"ModuleNotFoundError") in text
    tool = load_script('tools/list_modules.py')
    tool.main(['--plugins'])
    assert capsys.readouterr().out.strip() == text
    with pytest.raises(SystemExit) as exit_info:
        tool.main(['--plugins', '--strict'])
    assert exit_info.value.code == 1


def test_no_plugins_message(plugin_dir, monkeypatch):
    monkeypatch.setattr(plugins, '_STATUS', {})
    monkeypatch.setattr(plugins, '_DISCOVERED', True)
    assert plugins.describe_plugins() == "no plugins installed (entry-point group 'm5mm.plugins')"
    assert format_plugins().endswith('none installed.')


def test_entry_point_function_is_called_after_import(plugin_dir):
    make_distribution(plugin_dir, 'm5mm-testplugin-func', entry_points={'func': f'{PREFIX}func:register'},
                      modules={PREFIX + 'func': WITH_HOOK})
    status = plugins.load_plugins(force=True)['func']
    assert status.loaded and status.module == PREFIX + 'func'
    assert status.registered == {'hook': ['RegisterCalledHook']}
    assert HOOKS.get('RegisterCalledHook') is not None


def test_incompatible_m5mm_version_makes_a_clear_failed_plugin(plugin_dir):
    make_distribution(plugin_dir, 'm5mm-testplugin-future', entry_points={'future': PREFIX + 'future'},
                      modules={PREFIX + 'future': INCOMPATIBLE})
    status = plugins.load_plugins(force=True)['future']
    assert not status.loaded
    assert status.error.startswith('IncompatiblePluginError: m5mm-testplugin-future supports m5mm>=99.0, '
                                   'but m5mm 0.2')
    assert require_m5mm('>=0.2,<0.3', plugin='x') == '0.2.0'
    with pytest.raises(IncompatiblePluginError, match=r'x supports m5mm<0\.2, but m5mm 0\.2\.0 is installed'):
        require_m5mm('<0.2', plugin='x')
    with pytest.raises(ValueError, match='invalid m5mm version specifier'):
        require_m5mm('about 0.1', plugin='x')


def test_custom_imports_load_and_record_modules(plugin_dir):
    (plugin_dir / (PREFIX + 'custom.py')).write_text(textwrap.dedent(GOOD))
    import_config_modules(Config(dict(custom_imports=dict(imports=[PREFIX + 'custom']))))
    status = plugins.plugin_status()[PREFIX + 'custom']
    assert status.loaded and status.registered == {'hook': ['TestPluginHook']} and status.version == '9.9'
    with pytest.raises(ImportError, match=f"custom_imports: could not import '{PREFIX}nothing'"):
        import_config_modules(Config(dict(custom_imports=dict(imports=[PREFIX + 'nothing']))))
    import_config_modules(Config(dict(custom_imports=dict(imports=[PREFIX + 'nothing'],
                                                          allow_failed_imports=True))))
    assert not plugins.plugin_status()[PREFIX + 'nothing'].loaded


def test_a_module_imported_before_discovery_still_reports_its_registrations(plugin_dir):
    _good_and_broken(plugin_dir)
    __import__(PREFIX + 'good')
    assert plugins.load_plugins(force=True)['good'].registered == {'hook': ['TestPluginHook']}


def test_a_plugin_modality_is_collated_and_inspected_without_being_imported(plugin_dir):
    make_distribution(plugin_dir, 'm5mm-testplugin-toy', entry_points={'toy': PREFIX + 'toy'},
                      modules={PREFIX + 'toy': TOY_MODALITY})
    samples = [dict(id='a', toy={'values': torch.ones(3, 2)}), dict(id='b', toy=None)]
    batch = collate(samples)   # finds 'toy' in the registry: the plugin is loaded on demand
    assert batch['toy']['values'].shape == (2, 3, 2)
    assert batch['toy']['value_mask'].tolist() == [[True] * 3, [False] * 3]
    assert batch['toy']['present'].tolist() == [True, False]
    assert MODALITIES.get('toy') is not None
    data = plugin_dir / 'data'
    data.mkdir()
    (data / 'manifest.jsonl').write_text(json.dumps(dict(id='a', text='x', toy='a.npy')) + '\n')
    modalities = dataset_cfg_from_target(str(data))['modalities']
    assert list(modalities) == ['image', 'text', 'table', 'video', 'audio', 'toy']
    (data / 'manifest.jsonl').write_text(json.dumps(dict(id='a', text='x')) + '\n')
    assert 'modalities' not in dataset_cfg_from_target(str(data))   # the dataset's five defaults


def test_m5mm_config_path_for_plugin_configs(tmp_path, monkeypatch):
    monkeypatch.delenv(plugins.CONFIGS_ENV, raising=False)
    assert m5mm_config_path('scale_5mod_tiny.py') == str(REPO / 'configs' / 'scale_5mod_tiny.py')
    (tmp_path / 'mine.py').write_text('x = 1\n')
    monkeypatch.setenv(plugins.CONFIGS_ENV, str(tmp_path))
    assert m5mm_config_path('mine.py') == str(tmp_path / 'mine.py')
    with pytest.raises(FileNotFoundError, match='M5MM_CONFIGS'):
        m5mm_config_path('scale_5mod_tiny.py')
    child = tmp_path / 'child.py'
    child.write_text("_base_ = ['m5mm::mine.py']\ny = 2\n")   # mmengine's package syntax, resolved by m5mm
    cfg = load_config(str(child))
    assert (cfg.x, cfg.y) == (1, 2)
    monkeypatch.delenv(plugins.CONFIGS_ENV)
    child.write_text("_base_ = ['m5mm::scale_5mod_tiny.py', './mine.py']\n"
                     "default_hooks = dict(metrics=dict(interval=7))\n")
    cfg = Config.fromfile(str(child))   # (m5mm.utils.config installed the resolution for Config itself)
    assert (cfg.x, cfg.train_cfg.max_epochs) == (1, 2)
    assert cfg.default_hooks.metrics == dict(type='MetricsLoggerHook', interval=7)
    child.write_text("_base_ = ['m5mm::no_such.py']\n")
    with pytest.raises(FileNotFoundError, match="m5mm config 'no_such.py' not found"):
        load_config(str(child))
