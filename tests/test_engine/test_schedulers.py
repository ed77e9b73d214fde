"""The warm-up / linear-decay schedule: transformers' linear schedule, one step ahead, with a floor."""
from __future__ import annotations

import pytest
import torch
from transformers import get_linear_schedule_with_warmup

from m5mm.engine.optimizers import build_scheduler


def _reference(step: int, total: int, warmup: int, min_ratio: float) -> float:
    """m5mm 0.2's own formula (the numbers every recorded run used)."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    remaining = (total - step) / max(1, total - warmup)
    return min_ratio + (1.0 - min_ratio) * max(0.0, remaining)


def _lrs(scheduler_cfg, total: int, steps: int, lr: float = 1e-3) -> list:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = build_scheduler(opt, scheduler_cfg, total_steps=total)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]['lr'])
        opt.step()
        scheduler.step()
    return out


@pytest.mark.parametrize('total,warmup_ratio,min_ratio', [(20, 0.1, 0.0), (7, 0.3, 0.1), (100, 0.06, 0.0),
                                                          (1, 0.1, 0.0), (10, 0.5, 0.2), (33, 0.0, 1.0)])
def test_every_step_has_the_recorded_learning_rate(total, warmup_ratio, min_ratio):
    lrs = _lrs(dict(type='WarmupLinearDecayLR', warmup_ratio=warmup_ratio, min_ratio=min_ratio), total, total + 2)
    warmup = int(round(warmup_ratio * total))
    assert lrs == [1e-3 * _reference(s, total, warmup, min_ratio) for s in range(total + 2)]   # bit-equal


def test_it_is_transformers_schedule_one_step_ahead_and_the_default_is_constant():
    total, warmup = 20, 2
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    hf = get_linear_schedule_with_warmup(opt, warmup + 1, total + 1)
    expected = []
    for _ in range(total + 1):
        expected.append(opt.param_groups[0]['lr'])
        opt.step()
        hf.step()
    assert _lrs(dict(type='WarmupLinearDecayLR', warmup_ratio=0.1), total, total) == expected[1:]
    assert _lrs(None, 5, 7) == [1e-3] * 7


def test_the_schedule_state_loads_weights_only(tmp_path):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    scheduler = build_scheduler(opt, dict(type='WarmupLinearDecayLR', warmup_ratio=0.1), total_steps=20)
    torch.save(scheduler.state_dict(), tmp_path / 's.pt')
    assert torch.load(tmp_path / 's.pt', weights_only=True)['warmup_steps'] == 2
