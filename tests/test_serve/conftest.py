"""The tiny model's index over the demo catalogue, and the service app over both."""
from __future__ import annotations

import pytest


@pytest.fixture(scope='session')
def tiny_encoder(tiny_model_dir):
    from m5mm.api import ProductEncoder
    return ProductEncoder.from_pretrained(tiny_model_dir, device='cpu')


@pytest.fixture(scope='session')
def tiny_index(tiny_encoder, demo_root, tmp_path_factory):
    """``tools/build_index.py`` of the whole demo catalogue with the tiny model."""
    from m5mm.serve import CatalogueIndex
    from tests.script_module import load_script
    tool = load_script('tools/build_index.py')
    out = tmp_path_factory.mktemp('tiny_index') / 'index'
    tool.main([str(tiny_encoder.source), '--data-root', str(demo_root), '--out', str(out), '--batch-size', '32'])
    return CatalogueIndex.load(str(out))


@pytest.fixture(scope='session')
def tiny_app(tiny_encoder, tiny_index):
    from m5mm.serve import create_app
    return create_app(tiny_encoder, tiny_index, max_upload_bytes=2 * 1024 * 1024)
