"""Writers of real media files (and broken ones) for the dataset tests; see conftest.py for the layout."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def write_jpeg(path: Path, height: int, width: int, seed: int = 0, fmt: str = 'JPEG') -> None:
    from PIL import Image
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format=fmt)


def write_mp4(path: Path, num_frames: int, height: int = 48, width: int = 64, fps: int = 10,
              faststart: bool = False) -> None:
    """H.264 clip whose frame i is a flat grey of value 10 * i (so sampled indices are visible);
    ``faststart`` puts the index (moov atom) before the frame data."""
    import av
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {'movflags': 'faststart'} if faststart else {}
    with av.open(str(path), 'w', options=options) as container:
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
    write_mp4(root / 'videos/indexed.mp4', 20, faststart=True)
    truncate(root / 'videos/indexed.mp4', root / 'videos/trunc_indexed.mp4', 0.5)
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
