"""precision='auto' takes bf16 only where it is native; an explicit bf16 without native kernels warns."""
import logging

import pytest

from m5mm.utils import accelerator
from m5mm.utils.accelerator import resolve_precision


@pytest.fixture()
def native(monkeypatch):
    def set_native(value: bool):
        monkeypatch.setattr(accelerator, 'native_bf16', lambda: value)
    monkeypatch.delenv('ACCELERATE_MIXED_PRECISION', raising=False)
    return set_native


def test_auto_is_bf16_where_native_and_fp32_elsewhere(native, caplog):
    native(True)
    assert resolve_precision('auto') == 'bf16' and resolve_precision(None) == 'bf16'
    native(False)
    with caplog.at_level(logging.INFO, logger='m5mm'):
        assert resolve_precision('auto') == 'no'
    assert 'no native bf16' in caplog.text


def test_the_launcher_precision_wins_and_explicit_bf16_warns_without_native_kernels(native, monkeypatch, caplog):
    native(False)
    monkeypatch.setenv('ACCELERATE_MIXED_PRECISION', 'bf16')
    with caplog.at_level(logging.WARNING, logger='m5mm'):
        assert resolve_precision('auto') == 'bf16'
        assert resolve_precision('fp32') == 'no'
    assert caplog.text.count('emulated') == 1
    native(True)
    caplog.clear()
    assert resolve_precision('bf16') == 'bf16' and 'emulated' not in caplog.text
    with pytest.raises(ValueError, match='precision must be one of'):
        resolve_precision('half')


def test_native_bf16_answers_a_bool():
    assert isinstance(accelerator.native_bf16(), bool)
