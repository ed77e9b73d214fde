"""Fixtures of the plugin's tests: demo catalogues with point clouds, m5mm's tiny batch factory.

Run after installing the plugin (its entry point is part of what is tested)::

    pip install -e plugins/m5mm-pointcloud && python -m pytest plugins/m5mm-pointcloud/tests
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

import m5mm

PLUGIN_ROOT = Path(__file__).resolve().parents[1]
M5MM_REPO = Path(m5mm.__file__).resolve().parents[1]
os.environ.setdefault('HF_HUB_OFFLINE', '1')


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


@pytest.fixture(scope='session')
def pc_demo_root(tmp_path_factory) -> Path:
    """m5mm's demo catalogue (80 products) with point clouds added; read-only for tests."""
    from m5mm.datasets.demo import make_demo_dataset
    from m5mm_pointcloud.demo import add_pointclouds
    root = tmp_path_factory.mktemp('pc_demo') / 'data'
    make_demo_dataset(root, num_products=80, seed=0)
    add_pointclouds(root, seed=0)
    return root


@pytest.fixture()
def tiny6_config() -> str:
    """The plugin's six-modality test-size SCALE config."""
    return str(PLUGIN_ROOT / 'configs' / 'scale_6mod_tiny.py')
