"""Helpers shared by the plugin's tests (a module of its own so that its name never clashes)."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

import m5mm

M5MM_REPO = Path(m5mm.__file__).resolve().parents[1]
PLUGIN_ROOT = Path(__file__).resolve().parents[1]


def m5mm_batch_factory() -> ModuleType:
    """m5mm's ``tests/test_models/batch_factory.py`` (a tiny collated five-modality batch), loaded by
    path so that the two ``tests`` folders never clash; skips when m5mm is not a source checkout."""
    path = M5MM_REPO / 'tests' / 'test_models' / 'batch_factory.py'
    if not path.is_file():
        pytest.skip(f'm5mm test helpers not found at {path} (m5mm is not a source checkout)')
    spec = importlib.util.spec_from_file_location('m5mm_test_batch_factory', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
