"""Fixtures of the plugin's tests: a demo catalogue with point clouds, the six-modality config.

Run after installing the plugin (its entry point is part of what is tested)::

    pip install -e plugins/m5mm-pointcloud && python -m pytest plugins/m5mm-pointcloud/tests
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from pointcloud_test_utils import PLUGIN_ROOT
os.environ.setdefault('HF_HUB_OFFLINE', '1')


@pytest.fixture(scope='session')
def pc_demo_root(tmp_path_factory) -> Path:
    """m5mm's demo catalogue (80 products) with point clouds added; read-only for tests."""
    from m5mm.experiments.catalogues.demo import make_demo_dataset
    from m5mm_pointcloud.demo import add_pointclouds
    root = tmp_path_factory.mktemp('pc_demo') / 'data'
    make_demo_dataset(root, num_products=80, seed=0)
    add_pointclouds(root, seed=0)
    return root


@pytest.fixture()
def tiny6_config() -> str:
    """The plugin's six-modality test-size SCALE config."""
    return str(PLUGIN_ROOT / 'configs' / 'scale_6mod_tiny.py')
