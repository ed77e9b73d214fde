"""The losses of the shipped model configs stay what tests/fixtures/model_numbers.json recorded.

The fixture is written by ``python tests/fixtures/model_numbers.py record`` (every config, fp32 and
bf16, Trainer runs and evaluation results; exact only on the machine that wrote it). This test
re-runs the fast part, a few configs for three fp32 steps on a synthetic batch, and allows the
rounding differences another CPU or library build may give.
"""
import json
from pathlib import Path

import pytest
import torch

from tests.fixtures.model_numbers import run_steps

RECORDED = json.loads((Path(__file__).resolve().parents[1] / 'fixtures' / 'model_numbers.json').read_text())
CONFIGS = ('configs/scale_5mod_tiny.py', 'configs/classification/scale_cls_5mod_tiny.py',
           'configs/fusion/uniter_2mod.py', 'configs/fusion/clip_2mod.py')


@pytest.mark.parametrize('config', CONFIGS, ids=lambda c: Path(c).stem)
def test_three_steps_give_the_recorded_losses(config):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        got = run_steps(config, 'fp32', None, False)
    finally:
        torch.set_num_threads(threads)
    expected = RECORDED['steps'][config]['fp32']
    assert got['modalities'] == expected['modalities']
    for step, (new, old) in enumerate(zip(got['steps'], expected['steps'])):
        assert list(new['outputs']) == list(old['outputs']), f'step {step}: output keys changed'
        for key, value in old['outputs'].items():
            assert new['outputs'][key] == pytest.approx(value, rel=1e-4, abs=1e-5), f'step {step}: {key}'
        assert new['grad_norm'] == pytest.approx(old['grad_norm'], rel=1e-4), f'step {step}: gradient norm'
