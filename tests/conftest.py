"""Fixtures shared across the test packages."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault('HF_HUB_OFFLINE', '1')


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory) -> Path:
    """A small demo catalogue of real media files (80 products), generated once per session.

    Read-only for tests: training writes its tokenizer there once (``DATA_ROOT/tokenizer``).
    """
    from m5mm.datasets.demo import make_demo_dataset
    root = tmp_path_factory.mktemp('demo') / 'data'
    make_demo_dataset(str(root), num_products=80, seed=0)
    return root


@pytest.fixture()
def tiny_config() -> str:
    """The test-size SCALE config."""
    return str(REPO / 'configs' / 'scale_5mod_tiny.py')
