"""Registries: building from config, helpful errors for unknown types and keys."""
import pytest
import torch

from m5mm.registry import HOOKS, OPTIMIZERS, SCHEDULERS, all_registries
from m5mm.utils.build import ConfigKeyError, UnknownModuleError


def test_every_registry_has_m5mm_scope():
    expected = {'modality', 'encoder', 'fusion', 'harmonizer', 'objective', 'head', 'model', 'dataset', 'transform',
                'hook', 'task', 'optimizer', 'scheduler', 'catalogue', 'neck'}
    registries = all_registries()
    assert set(registries) == expected
    assert all(reg.scope == 'm5mm' for reg in registries.values())


def test_unknown_type_names_registry_closest_names_and_plugins():
    with pytest.raises(UnknownModuleError) as err:
        HOOKS.build(dict(type='CheckpointHok'))
    message = str(err.value)
    assert "'CheckpointHok' is not registered in the m5mm 'hook' registry" in message
    assert 'Did you mean: CheckpointHook' in message
    assert 'plugins' in message
    assert 'tools/list_modules.py hook' in message


def test_unknown_config_key_names_closest_argument():
    with pytest.raises(ConfigKeyError, match=r"unknown config key 'intervall'.*Did you mean 'interval'"):
        HOOKS.build(dict(type='CheckpointHook', intervall=3))


def test_torch_optimizers_and_m5mm_schedulers_reachable_from_config():
    params = [torch.nn.Parameter(torch.zeros(2))]
    optimizer = OPTIMIZERS.build(dict(type='AdamW', lr=1e-3), default_args=dict(params=params))
    assert isinstance(optimizer, torch.optim.AdamW)
    scheduler = SCHEDULERS.build(dict(type='WarmupLinearDecayLR', total_steps=10, warmup_ratio=0.2),
                                 default_args=dict(optimizer=optimizer))
    lrs = []
    for _ in range(10):
        lrs.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        scheduler.step()
    assert lrs[0] < lrs[1] < lrs[2]  # warm-up over 2 steps
    assert lrs[2] == pytest.approx(1e-3)
    assert all(a > b for a, b in zip(lrs[2:], lrs[3:]))  # then linear decay
    assert lrs[-1] == pytest.approx(1e-3 * 1 / 8)


@pytest.mark.parametrize('registry', [HOOKS, OPTIMIZERS, SCHEDULERS])
def test_a_dotted_type_is_never_imported_only_registered_names_are_built(registry, tmp_path):
    import sys
    marker = tmp_path / 'pwned'
    for name in ('os.system', 'subprocess.getoutput', 'this.s', 'mmengine.os.system', 'm5mm.utils.files.os.system'):
        with pytest.raises(UnknownModuleError, match='is not registered'):
            registry.build(dict(type=name, command=f'touch {marker}'))
    assert not marker.exists() and 'this' not in sys.modules   # `import this` would have printed the Zen
    with pytest.raises(UnknownModuleError, match='not a scope'):
        registry.build(dict(type='CheckpointHook', _scope_='antigravity'))
    assert 'antigravity' not in sys.modules


def test_nested_configs_and_scoped_names_follow_the_same_rule():
    from m5mm.registry import MODELS
    from m5mm.utils.build import find_registered
    assert find_registered(SCHEDULERS, 'mmengine.LinearLR').__name__ == 'LinearLR'   # a parent registry's name
    assert find_registered(OPTIMIZERS, 'AdamW') is torch.optim.AdamW
    assert find_registered(HOOKS, 'os.system') is None
    model = dict(type='ScalePretrainer', encoders=dict(text=dict(type='os.system')), data_meta=None)
    with pytest.raises(UnknownModuleError, match="'os.system' is not registered in the m5mm 'encoder' registry"):
        MODELS.build(model)
