"""Shared fixtures of the model tests: a tiny 5-modality batch with missing modalities."""
from __future__ import annotations

import pytest
import torch

from tests.test_models.batch_factory import make_batch, tiny_data_meta, tiny_encoder_cfgs


@pytest.fixture
def batch() -> dict:
    """4 samples, all five modalities, some absent (``DEFAULT_ABSENT``), variable lengths."""
    torch.manual_seed(0)
    return make_batch(4)


@pytest.fixture
def full_batch() -> dict:
    """4 samples, every modality present for every sample."""
    torch.manual_seed(0)
    return make_batch(4, absent={})


@pytest.fixture
def feature_batch() -> dict:
    """4 samples; image and video given as pre-extracted features (``feats``/``feat_mask``)."""
    torch.manual_seed(0)
    return make_batch(4, features=('image', 'video'))


@pytest.fixture
def encoder_cfgs() -> dict:
    """modality -> tiny encoder config (width 32, depth 1) matching ``batch``."""
    return tiny_encoder_cfgs(32)


@pytest.fixture
def data_meta() -> dict:
    """The dataset ``meta`` matching ``batch`` (tokenizer ids, vocabulary size, classes)."""
    return tiny_data_meta()
