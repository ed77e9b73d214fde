"""Hooks keyed by name: ``default_hooks`` overridden per leaf, ``custom_hooks`` appended, the older ``hooks`` list."""
from __future__ import annotations

import pytest
from mmengine.config import Config

from m5mm.engine.builder import DEFAULT_HOOKS, build_hooks, hook_configs
from m5mm.utils.config import ConfigError, load_config
from tests.conftest import REPO


def _types(cfgs):
    return [c['type'] for c in (cfgs.values() if isinstance(cfgs, dict) else cfgs)]


def test_a_leaf_config_changes_or_drops_one_default_hook(tmp_path):
    leaf = tmp_path / 'leaf.py'
    leaf.write_text(f"_base_ = [{str(REPO / 'configs' / 'scale_5mod.py')!r}]\n"
                    "default_hooks = dict(checkpoint=dict(max_keep=7), evaluation=None)\n"
                    "custom_hooks = [dict(type='ProgressBarHook', disable=True)]\n")
    cfgs = hook_configs(load_config(str(leaf)))
    assert _types(cfgs) == ['MetricsLoggerHook', 'ProgressBarHook', 'RunSummaryHook', 'ModalityWeightHook',
                            'CollapseMonitorHook', 'MediaReportHook', 'CheckpointHook', 'ProgressBarHook']
    assert cfgs['checkpoint'] == dict(type='CheckpointHook', by_epoch=True, max_keep=7)   # merged into the base's
    assert list(cfgs)[-1] == 'ProgressBarHook'   # a custom hook's key is its type
    hooks = build_hooks(load_config(str(leaf)))
    assert [h.priority for h in hooks] == sorted(h.priority for h in hooks)
    assert hooks[-1].max_keep == 7


def test_the_older_hooks_list_is_the_whole_list_plus_custom_hooks():
    cfg = Config(dict(default_hooks=dict(metrics=dict(type='MetricsLoggerHook')),
                      hooks=[dict(type='CheckpointHook')], custom_hooks=[dict(type='RunSummaryHook')]))
    assert _types(hook_configs(cfg)) == ['CheckpointHook', 'RunSummaryHook']
    assert _types(hook_configs(Config(dict(hooks=[])))) == []
    assert _types(hook_configs(Config(dict()))) == _types(DEFAULT_HOOKS.values())


def test_bad_hook_configs_name_the_problem():
    with pytest.raises(ConfigError, match='default_hooks.extra has no type'):
        hook_configs(Config(dict(default_hooks=dict(extra=dict(interval=3)))))
    with pytest.raises(ConfigError, match="TensorboardLoggerHook no longer exists: use log_with = 'tensorboard'"):
        build_hooks(Config(dict(hooks=[dict(type='TensorboardLoggerHook')])))
    with pytest.raises(ConfigError, match='custom_hooks must be a list'):
        hook_configs(Config(dict(custom_hooks=dict(type='CheckpointHook'))))
    with pytest.raises(ConfigError, match=r"custom_hooks holds 'dict\(type=RunSummaryHook\)', which is not a hook "
                                          r"config \(a dict with a type\)"):
        hook_configs(Config(dict(custom_hooks=['dict(type=RunSummaryHook)'])))
    with pytest.raises(ConfigError, match=r"hooks holds 'CheckpointHook', which is not a hook config"):
        hook_configs(Config(dict(hooks=['CheckpointHook'])))
