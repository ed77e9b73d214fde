"""Rendering and writing the demo media: JPEG photos, H.264 mp4 clips and WAV tones.

Each renderer draws its record-level jitter (pose, lighting, background, phase, noise) from
the generator it is given, so a record's files depend only on its seed.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Tuple, Union

import numpy as np
from PIL import Image, ImageDraw

IMAGE_SIZE = 96
VIDEO_SIZE = 64
VIDEO_FRAMES = 12
VIDEO_FPS = 4
AUDIO_RATE = 16000
AUDIO_SECONDS = 2.0
SHAPES = ('circle', 'square', 'triangle', 'ring', 'star', 'cross')
MOTIONS = ('horizontal', 'vertical', 'orbit', 'pulse')

RGB = Tuple[int, int, int]
PathLike = Union[str, Path]


def _polygon(shape: str, radius: float, angle: float) -> np.ndarray:
    """(P, 2) vertices of ``shape`` centred at 0 with outer radius ``radius``, rotated by ``angle``."""
    if shape == 'square':
        pts = [(radius, k * math.pi / 2 + math.pi / 4) for k in range(4)]
    elif shape == 'triangle':
        pts = [(radius, k * 2 * math.pi / 3) for k in range(3)]
    elif shape == 'star':
        pts = [(radius if k % 2 == 0 else 0.45 * radius, k * math.pi / 5) for k in range(10)]
    elif shape == 'cross':
        w = 0.32 * radius
        corners = [(w, -w), (radius, -w), (radius, w), (w, w), (w, radius), (-w, radius), (-w, w),
                   (-radius, w), (-radius, -w), (-w, -w), (-w, -radius), (w, -radius)]
        pts = [(math.hypot(x, y), math.atan2(y, x)) for x, y in corners]
    else:
        raise ValueError(f'unknown polygon shape {shape!r}; expected one of {SHAPES}')
    return np.array([(r * math.cos(a + angle), r * math.sin(a + angle)) for r, a in pts])


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) float light background with a random tint and a linear gradient."""
    base = rng.uniform(175, 240, size=3)
    ramp = np.linspace(-1, 1, size)
    direction = rng.uniform(-12, 12, size=2)
    gradient = ramp[:, None] * direction[0] + ramp[None, :] * direction[1]
    return base[None, None, :] + gradient[:, :, None]


def _jitter_color(rng: np.random.Generator, color: RGB) -> np.ndarray:
    """``color`` under random lighting and a per-channel shift."""
    return np.asarray(color, dtype=np.float64) * rng.uniform(0.85, 1.1) + rng.normal(0, 10, size=3)


def render_image(rng: np.random.Generator, *, shape: str, color: RGB, scale: float) -> np.ndarray:
    """A product photo: ``shape`` in ``color`` on a light background -> (H, W, 3) uint8."""
    if shape not in SHAPES:
        raise ValueError(f'unknown shape {shape!r}; expected one of {SHAPES}')
    up = 2 * IMAGE_SIZE  # draw at 2x and downsample for smooth edges
    mask_img = Image.new('L', (up, up), 0)
    draw = ImageDraw.Draw(mask_img)
    radius = 0.5 * scale * up * rng.uniform(0.9, 1.1)
    centre = up / 2 + rng.uniform(-0.08, 0.08, size=2) * up
    if shape in ('circle', 'ring'):
        box = [centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius]
        draw.ellipse(box, fill=255)
        if shape == 'ring':
            inner = 0.55 * radius
            draw.ellipse([centre[0] - inner, centre[1] - inner, centre[0] + inner, centre[1] + inner], fill=0)
    else:
        pts = _polygon(shape, radius, rng.uniform(0, 2 * math.pi)) + centre
        draw.polygon([tuple(p) for p in pts], fill=255)
    mask = np.asarray(mask_img.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR), dtype=np.float64) / 255
    image = _background(rng, IMAGE_SIZE) * (1 - mask[..., None]) + _jitter_color(rng, color) * mask[..., None]
    image += rng.normal(0, 6, size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def render_video(rng: np.random.Generator, *, motion: str, speed: float, amplitude: float) -> np.ndarray:
    """A product clip: a dark disc moving by ``motion`` -> (T, H, W, 3) uint8.

    Args:
        motion: one of :data:`MOTIONS` (pulse: the disc grows and shrinks in place).
        speed: cycles per second.
        amplitude: displacement (or growth) as a fraction of the frame side.
    """
    if motion not in MOTIONS:
        raise ValueError(f'unknown motion {motion!r}; expected one of {MOTIONS}')
    t = np.arange(VIDEO_FRAMES) / VIDEO_FPS
    phase = 2 * math.pi * speed * rng.uniform(0.9, 1.1) * t + rng.uniform(0, 2 * math.pi)
    amp = amplitude * rng.uniform(0.9, 1.1) * VIDEO_SIZE
    base_radius, mid = 0.14 * VIDEO_SIZE, VIDEO_SIZE / 2
    dx = {'horizontal': amp * np.sin(phase), 'orbit': amp * np.cos(phase)}.get(motion, np.zeros_like(t))
    dy = {'vertical': amp * np.sin(phase), 'orbit': amp * np.sin(phase)}.get(motion, np.zeros_like(t))
    growth = 2 * amplitude * np.sin(phase)  # pulse: the radius swings by 30-60%
    radius = base_radius * (1 + growth) if motion == 'pulse' else np.full_like(t, base_radius)
    shake = rng.normal(0, 1.0, size=(VIDEO_FRAMES, 2))
    background, fg = _background(rng, VIDEO_SIZE), np.full(3, rng.uniform(20, 110))
    yy, xx = np.mgrid[0:VIDEO_SIZE, 0:VIDEO_SIZE] + 0.5
    frames = np.empty((VIDEO_FRAMES, VIDEO_SIZE, VIDEO_SIZE, 3), dtype=np.uint8)
    for k in range(VIDEO_FRAMES):
        cx, cy = mid + dx[k] + shake[k, 0], mid + dy[k] + shake[k, 1]
        dist = np.hypot(xx - cx, yy - cy)
        mask = np.clip(radius[k] + 0.5 - dist, 0, 1)[..., None]
        frame = background * (1 - mask) + fg * mask + rng.normal(0, 4, size=background.shape)
        frames[k] = np.clip(frame, 0, 255).astype(np.uint8)
    return frames


def render_audio(rng: np.random.Generator, *, pitch_hz: float, rhythm: float) -> np.ndarray:
    """A product sound: beeps of a harmonic tone at ``pitch_hz``, ``rhythm`` per second, in noise.

    Returns:
        (AUDIO_RATE * AUDIO_SECONDS,) float32 in [-1, 1].
    """
    t = np.arange(int(AUDIO_RATE * AUDIO_SECONDS)) / AUDIO_RATE
    f0 = pitch_hz * 2 ** (rng.normal(0, 0.2) / 12)
    tone = sum(a * np.sin(2 * math.pi * h * f0 * t) for h, a in ((1, 1.0), (2, 0.35), (3, 0.15)))
    envelope = np.clip(2.5 * np.sin(2 * math.pi * rhythm * t + rng.uniform(0, 2 * math.pi)), 0, 1)
    signal = 0.5 * tone * envelope / 1.5
    noise = rng.normal(0, 0.3 * float(np.sqrt(np.mean(signal ** 2))) + 1e-3, size=t.shape)
    return np.clip(signal + noise, -1, 1).astype(np.float32)


def write_jpeg(path: PathLike, image: np.ndarray, *, quality: int = 90) -> None:
    """Write an (H, W, 3) uint8 array as a JPEG."""
    Image.fromarray(image, mode='RGB').save(path, format='JPEG', quality=quality)


def write_mp4(path: PathLike, frames: np.ndarray, *, fps: int = VIDEO_FPS) -> None:
    """Write (T, H, W, 3) uint8 frames as an H.264 yuv420p mp4 (PyAV; the same frames give the same bytes)."""
    import av
    with av.open(str(path), mode='w') as container:
        stream = container.add_stream('libx264', rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = 'yuv420p'
        # mb-tree rate control gives different bytes from run to run; without it x264 is repeatable
        stream.options = {'crf': '18', 'preset': 'veryfast', 'x264-params': 'threads=1:no-mbtree=1'}
        stream.codec_context.thread_count = 1
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format='rgb24')):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_wav(path: PathLike, wave: np.ndarray, *, rate: int = AUDIO_RATE) -> None:
    """Write a (S,) float waveform as 16-bit mono PCM WAV."""
    import soundfile
    soundfile.write(str(path), wave, rate, subtype='PCM_16')
