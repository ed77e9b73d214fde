"""Decoding media files; every library failure becomes a :class:`MediaError` with a short reason."""
from __future__ import annotations

import io
import os
import warnings
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import MISSING_FILE, UNREADABLE_FILE, MediaError

_DECORD_QUIET = False
IMAGE_TOO_LARGE = 'image too large'
DEFAULT_MAX_PIXELS = 50_000_000   # e.g. 8660 x 5773; decoding one needs 150 MB


def check_file(path: str) -> str:
    """``path`` if it is a readable file, else MediaError ('missing file' / 'unreadable file')."""
    if not os.path.exists(path):
        raise MediaError(MISSING_FILE, path)
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise MediaError(UNREADABLE_FILE, path)
    if os.path.getsize(path) == 0:
        raise MediaError('empty file', path)
    return path


def open_source(path: str, data: Optional[bytes]) -> Union[str, io.BytesIO]:
    """What a decoder reads: ``data`` (a file's bytes, e.g. a shard member) when given, else the
    checked file at ``path`` (``path`` then only names it in messages)."""
    if data is None:
        return check_file(path)
    if len(data) == 0:
        raise MediaError('empty file', path)
    return io.BytesIO(data)


def decode_image(path: str, *, draft_size: Optional[Tuple[int, int]] = None, data: Optional[bytes] = None,
                 max_pixels: Optional[int] = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """(H, W, 3) uint8 RGB array of an image file.

    Args:
        path: the image file.
        draft_size: (width, height) the image may be reduced to (never below): JPEGs are decoded at a
            reduced scale (draft mode), other formats (PNG ...) are box-reduced right after decoding.
        max_pixels: images with more pixels (read from the header, before decoding) are refused as
            ``'image too large'``; None: no cap.
        data: the file's bytes, read instead of ``path`` when given.
    """
    from PIL import Image
    source = open_source(path, data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)   # the cap below decides
            with Image.open(source) as img:
                width, height = img.size
                if max_pixels is not None and width * height > max_pixels:
                    raise MediaError(IMAGE_TOO_LARGE, f'{path}: {width}x{height} pixels > max_pixels={max_pixels}')
                if draft_size is not None:
                    img.draft('RGB', tuple(draft_size))
                rgb = img.convert('RGB')
    except Image.DecompressionBombError as exc:
        raise MediaError(IMAGE_TOO_LARGE, f'{path}: {exc}') from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise MediaError('corrupt image', f'{path}: {exc}') from None
    if draft_size is not None:
        factor = min(rgb.width // draft_size[0], rgb.height // draft_size[1])
        if factor >= 2:
            rgb = rgb.reduce(factor)
    return np.asarray(rgb)


def _quiet_decord(decord) -> None:
    global _DECORD_QUIET
    if not _DECORD_QUIET:  # the reason is in the exception; ffmpeg's console noise is not needed
        decord.logging.set_level(decord.logging.QUIET)
        _DECORD_QUIET = True


def frame_indices(total: int, num: int, rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """``min(num, total)`` indices spread uniformly over ``total`` frames (segment centres, or a
    random position in each segment when ``rng`` is given)."""
    num = min(num, total)
    bounds = np.linspace(0, total, num + 1)
    if rng is None:
        positions = (bounds[:-1] + bounds[1:]) / 2
    else:
        positions = bounds[:-1] + rng.random(num) * (bounds[1:] - bounds[:-1])
    return np.clip(positions.astype(np.int64), 0, total - 1)


def _read_frames(decord, source, num_frames: int, width: int, height: int,
                 rng: Optional[np.random.Generator], path: str) -> np.ndarray:
    if isinstance(source, io.BytesIO):
        source.seek(0)
    reader = decord.VideoReader(source, width=width, height=height, ctx=decord.cpu(0), num_threads=1)
    total = len(reader)
    if total <= 0:
        raise MediaError('empty video', path)
    return reader.get_batch(frame_indices(total, num_frames, rng).tolist()).asnumpy()


def _resize_frames(frames: np.ndarray, size: Sequence[int]) -> np.ndarray:
    import torch
    from torchvision.transforms.v2 import functional as TF
    tensor = torch.from_numpy(frames).permute(0, 3, 1, 2)
    return TF.resize(tensor, list(size), antialias=True).permute(0, 2, 3, 1).contiguous().numpy()


def decode_video(path: str, *, num_frames: int, size: Sequence[int],
                 rng: Optional[np.random.Generator] = None, data: Optional[bytes] = None) -> np.ndarray:
    """(T, H, W, 3) uint8 frames sampled uniformly, decoded by decord at ``size`` = (H, W).

    T is ``num_frames``, or the clip's frame count when shorter. decord scales while decoding;
    for the few output sizes its scaler rejects, frames are decoded at full size and resized.
    ``data``: the file's bytes, read instead of ``path`` when given.
    """
    source = open_source(path, data)
    try:
        import decord
    except ImportError as exc:
        raise ImportError(f'decord is needed to read videos: pip install decord ({exc})') from exc
    _quiet_decord(decord)
    height, width = size
    try:
        try:
            frames = _read_frames(decord, source, num_frames, width, height, rng, path)
        except MediaError:
            raise
        except Exception:  # noqa: BLE001 - retried at full size below; a corrupt file fails again
            frames = _resize_frames(_read_frames(decord, source, num_frames, -1, -1, rng, path), size)
    except MediaError:
        raise
    except Exception as exc:  # decord raises RuntimeError / DECORDError for anything unreadable
        raise MediaError('corrupt video', f'{path}: {str(exc)[:200]}') from None
    if frames.ndim != 4 or frames.shape[0] == 0:
        raise MediaError('corrupt video', f'{path}: decoded shape {frames.shape}')
    return frames


def decode_audio(path: str, *, sample_rate: int, max_duration: Optional[float],
                 data: Optional[bytes] = None) -> np.ndarray:
    """(S,) float32 mono waveform at ``sample_rate``, at most ``max_duration`` seconds
    (``data``: the file's bytes, read instead of ``path`` when given)."""
    source = open_source(path, data)
    import librosa
    try:
        with warnings.catch_warnings():  # librosa warns before each fallback; failures raise below
            warnings.simplefilter('ignore')
            wave, _ = librosa.load(source, sr=sample_rate, mono=True, duration=max_duration)
    except Exception as exc:  # soundfile / audioread raise many unrelated types
        raise MediaError('corrupt audio', f'{path}: {type(exc).__name__} {str(exc)[:200]}') from None
    if wave.size == 0:
        raise MediaError('empty audio', path)
    if not np.isfinite(wave).all():
        raise MediaError('corrupt audio', f'{path}: non-finite samples')
    return wave.astype(np.float32, copy=False)


def load_npy(path: str, data: Optional[bytes] = None) -> np.ndarray:
    """The array in a ``.npy`` file (no pickles), as float32 (``data``: the file's bytes, read
    instead of ``path`` when given)."""
    source = open_source(path, data)
    try:
        array = np.load(source, allow_pickle=False)
    except Exception as exc:  # ValueError / OSError / EOFError on a bad header or short file
        raise MediaError('corrupt feature', f'{path}: {str(exc)[:200]}') from None
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.number):
        raise MediaError('corrupt feature', f'{path}: not a numeric array')
    return array.astype(np.float32, copy=False)
