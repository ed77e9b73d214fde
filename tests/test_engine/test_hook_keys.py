"""A hook has one key, the one its config uses: the ``default_hooks`` name (or the ``type`` of a listed hook)
keys its checkpointed state too; a 0.2 checkpoint's states, keyed by class name, still find their hooks."""
from mmengine.config import Config

from m5mm.engine.builder import build_hooks, hook_configs, hook_for_state, keyed_hooks

CFG = Config(dict(default_hooks=dict(metrics=dict(type='MetricsLoggerHook'), summary=dict(type='RunSummaryHook'),
                                     progress=None),
                  custom_hooks=[dict(type='MetricsLoggerHook'), dict(type='MetricsLoggerHook')]))


def test_hooks_are_keyed_by_their_config_names():
    assert list(hook_configs(CFG)) == ['metrics', 'summary', 'MetricsLoggerHook', 'MetricsLoggerHook#2']
    by_key = keyed_hooks(build_hooks(CFG))
    assert sorted(by_key) == ['MetricsLoggerHook', 'MetricsLoggerHook#2', 'metrics', 'summary']
    assert all(hook.key == key for key, hook in by_key.items())
    assert type(by_key['summary']).__name__ == 'RunSummaryHook'


def test_the_older_hooks_list_is_keyed_by_type():
    cfg = Config(dict(hooks=[dict(type='CheckpointHook'), dict(type='CheckpointHook')]))
    assert list(hook_configs(cfg)) == ['CheckpointHook', 'CheckpointHook#2']


def test_a_checkpoint_of_0_2_keyed_by_class_name_finds_its_hooks():
    by_key = keyed_hooks(build_hooks(CFG))
    assert hook_for_state(by_key, 'summary') is by_key['summary']
    assert hook_for_state(by_key, 'RunSummaryHook') is by_key['summary']
    metrics = [h for h in by_key.values() if type(h).__name__ == 'MetricsLoggerHook']
    assert hook_for_state(by_key, 'MetricsLoggerHook#3') is metrics[2]
    assert hook_for_state(by_key, 'ProgressBarHook') is None
