"""Hand-crafted features of decoded demo files, for probing what each modality carries.

Image and video: the object is the set of pixels far from the border's median colour; image
features describe its colour, size and outline (radial profile, spikiness, hole), video
features its trajectory (spread in x, y and size, motion frequency). Audio: pitch,
spectral centroid and beep rate. Text and table: bags of words / of ``key=value`` tokens.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Tuple, Union

import numpy as np

PathLike = Union[str, Path]
FOREGROUND_DISTANCE = 45.0  # RGB distance from the background that marks object pixels


def _foreground(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) -> (H, W) bool mask of pixels far from the median border colour."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]).astype(np.float64)
    return np.linalg.norm(image - np.median(border, axis=0), axis=-1) > FOREGROUND_DISTANCE


def _object_stats(image: np.ndarray) -> Tuple[np.ndarray, float, float, float, np.ndarray]:
    """Mask, centroid x, centroid y, area (pixels) and mean RGB (0-1) of the object."""
    mask = _foreground(image.astype(np.float64))
    if not mask.any():  # no object found: centre, zero area, background colour
        h, w = mask.shape
        return mask, w / 2, h / 2, 0.0, image.reshape(-1, 3).mean(0) / 255
    ys, xs = np.nonzero(mask)
    return mask, xs.mean(), ys.mean(), float(mask.sum()), image[mask].mean(0) / 255


def image_features(path: PathLike) -> np.ndarray:
    """(16,) colour (3), size, extent, hole, spikiness, radial histogram (8), elongation."""
    from PIL import Image
    image = np.asarray(Image.open(path).convert('RGB'), dtype=np.float64)
    mask, cx, cy, area, color = _object_stats(image)
    if area == 0:
        return np.concatenate([color, np.zeros(13)])
    ys, xs = np.nonzero(mask)
    radius = np.hypot(xs - cx, ys - cy) / np.sqrt(area)
    radial = np.histogram(radius, bins=8, range=(0, 1.2))[0] / area
    angle_bin = ((np.arctan2(ys - cy, xs - cx) + np.pi) / (2 * np.pi) * 24).astype(int) % 24
    outline = np.array([radius[angle_bin == k].max() if (angle_bin == k).any() else 0 for k in range(24)])
    extent = area / ((np.ptp(xs) + 1) * (np.ptp(ys) + 1))
    hole = 1.0 - mask[int(cy) - 1:int(cy) + 2, int(cx) - 1:int(cx) + 2].mean()
    eig = np.linalg.eigvalsh(np.cov(np.stack([xs, ys])) + 1e-6 * np.eye(2))
    return np.concatenate([color, [np.sqrt(area / mask.size), extent, hole, outline.std() / outline.mean()],
                           radial, [eig[0] / eig[1]]])


def video_features(path: PathLike) -> np.ndarray:
    """(6,) spread of x, y and size, motion frequency (Hz), mean speed, x-y coupling."""
    import decord
    reader = decord.VideoReader(str(path))
    frames = reader.get_batch(list(range(len(reader)))).asnumpy()
    stats = [_object_stats(frame) for frame in frames]
    xs, ys = np.array([s[1] for s in stats]), np.array([s[2] for s in stats])
    size = np.sqrt([s[3] for s in stats])
    side = frames.shape[2]
    signals = np.stack([xs / side, ys / side, size / max(size.mean(), 1e-6)])
    spread = signals.std(axis=1)
    main = signals[int(np.argmax(spread))] - signals[int(np.argmax(spread))].mean()
    spectrum = np.abs(np.fft.rfft(main, n=64))
    freq = np.fft.rfftfreq(64, d=1 / reader.get_avg_fps())[int(np.argmax(spectrum[1:])) + 1]
    speed = np.hypot(np.diff(xs), np.diff(ys)).mean() / side
    coupling = abs(np.corrcoef(xs, ys)[0, 1]) if spread[0] > 0 and spread[1] > 0 else 0.0
    return np.concatenate([spread, [freq, speed, np.nan_to_num(coupling)]])


def audio_features(path: PathLike, *, rate: int = 16000) -> np.ndarray:
    """(4,) log2 dominant frequency, log2 spectral centroid, beep rate (Hz), loudness."""
    import librosa
    wave, _ = librosa.load(str(path), sr=rate, mono=True)
    spectrum = np.abs(np.fft.rfft(wave))
    freqs = np.fft.rfftfreq(len(wave), d=1 / rate)
    band = freqs > 50
    dominant = freqs[band][int(np.argmax(spectrum[band]))]
    centroid = (freqs * spectrum).sum() / max(spectrum.sum(), 1e-9)
    hop = rate // 100
    envelope = np.sqrt(np.mean(wave[:len(wave) // hop * hop].reshape(-1, hop) ** 2, axis=1))
    env_spec = np.abs(np.fft.rfft(envelope - envelope.mean(), n=1024))
    env_freqs = np.fft.rfftfreq(1024, d=1 / 100)
    window = (env_freqs > 0.5) & (env_freqs < 12)
    rhythm = env_freqs[window][int(np.argmax(env_spec[window]))]
    return np.array([np.log2(dominant), np.log2(max(centroid, 1.0)), rhythm, envelope.mean()])


def text_tokens(title: str) -> List[str]:
    """Lower-cased words of a title."""
    return title.lower().split()


def table_tokens(table: List[List[str]]) -> List[str]:
    """``key=value`` tokens of an attribute table."""
    return [f'{key}={value}'.lower() for key, value in table]
