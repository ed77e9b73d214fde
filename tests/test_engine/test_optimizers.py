"""build_optimizer picks torch's fused kernel unless the config chooses an implementation; same update."""
import copy

import torch
from torch import nn

from m5mm.engine.optimizers import build_optimizer


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.LayerNorm(16), nn.Linear(16, 4))


def _step(model: nn.Module, optimizer_cfg: dict) -> torch.optim.Optimizer:
    optimizer = build_optimizer(model, dict(optimizer=optimizer_cfg))
    for _ in range(3):
        model(torch.ones(2, 8)).square().sum().backward()
        optimizer.step()
        optimizer.zero_grad()
    return optimizer


def test_fused_by_default_and_the_same_update_as_the_loop():
    fused_model, loop_model = _model(), _model()
    fused = _step(fused_model, dict(type='AdamW', lr=1e-2, weight_decay=0.01))
    loop = _step(loop_model, dict(type='AdamW', lr=1e-2, weight_decay=0.01, foreach=False))
    assert fused.defaults['fused'] is True and not loop.defaults.get('fused')
    for a, b in zip(fused_model.parameters(), loop_model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_the_config_choice_wins_and_optimizers_without_a_fused_kernel_are_untouched(monkeypatch):
    assert build_optimizer(_model(), dict(optimizer=dict(type='AdamW', lr=1e-3, fused=False))).defaults['fused'] \
        is False
    assert build_optimizer(_model(), dict(optimizer=dict(type='SGD', lr=1e-3, foreach=True))).defaults['foreach']
    assert 'fused' not in build_optimizer(_model(), dict(optimizer=dict(type='RMSprop', lr=1e-3))).defaults
    monkeypatch.setenv('ACCELERATE_USE_FSDP', 'true')
    assert not build_optimizer(_model(), dict(optimizer=dict(type='AdamW', lr=1e-3))).defaults.get('fused')
    monkeypatch.delenv('ACCELERATE_USE_FSDP')
    half = copy.deepcopy(_model()).to(torch.bfloat16)
    assert build_optimizer(half, dict(optimizer=dict(type='AdamW', lr=1e-3))).defaults['fused'] is True
