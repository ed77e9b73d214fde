"""Media given in memory (bytes, PIL images, arrays) written to files the modality pipelines read.

The pipelines decode files (PIL, decord, librosa, numpy), so an in-memory value is written once
to a private temporary folder, losslessly (encoded bytes as they are, images as PNG, arrays as
``.npy``, ``(waveform, sample_rate)`` as float WAV), and the record gets its absolute path.
"""
from __future__ import annotations

import io
import os
import shutil
import tempfile
from typing import Any, Dict, Mapping, Optional

import numpy as np

from m5mm.datasets.modalities.base_modality import ModalitySpec
from m5mm.datasets.paths import resolve_media_path

# (magic bytes at offset, suffix): decoders sniff content, the suffix only helps tools that look at it
_SIGNATURES = ((0, b'\xff\xd8\xff', '.jpg'), (0, b'\x89PNG', '.png'), (0, b'GIF8', '.gif'), (8, b'WEBP', '.webp'),
               (8, b'WAVE', '.wav'), (4, b'ftyp', '.mp4'), (0, b'\x93NUMPY', '.npy'), (0, b'fLaC', '.flac'),
               (0, b'OggS', '.ogg'), (0, b'ID3', '.mp3'), (0, b'\x1aE\xdf\xa3', '.webm'), (0, b'BM', '.bmp'))


def sniff_suffix(data: bytes) -> str:
    """A file suffix for encoded media ``data`` ('.bin' when unknown)."""
    for offset, magic, suffix in _SIGNATURES:
        if data[offset:offset + len(magic)] == magic:
            return suffix
    return '.bin'


class MediaStager:
    """Context manager that stages the media of raw records as files.

    Args:
        specs: modality name -> spec (which record fields hold media paths).
        data_root: folder that relative paths are resolved in (and may not escape); None: paths
            are taken as given (relative to the working directory).
    """

    def __init__(self, *, specs: Mapping[str, ModalitySpec], data_root: Optional[str] = None) -> None:
        self.specs = dict(specs)
        self.data_root = data_root
        self.folder: Optional[str] = None
        self._count = 0

    def __enter__(self) -> 'MediaStager':
        self.folder = tempfile.mkdtemp(prefix='m5mm-media-')
        return self

    def __exit__(self, *exc) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def stage(self, record: Mapping[str, Any], position: int) -> Dict[str, Any]:
        """A copy of ``record`` whose media fields are absolute file paths."""
        if not isinstance(record, Mapping):
            raise ValueError(f'record {position}: expected a dict, got {type(record).__name__}')
        out = dict(record)
        for name, spec in self.specs.items():
            value = out.get(spec.record_field)
            if spec.reads_path and value is not None:
                out[spec.record_field] = self._stage(name, spec, value, position)
        return out

    def _stage(self, name: str, spec: ModalitySpec, value: Any, position: int) -> str:
        if isinstance(value, (str, os.PathLike)):
            path = os.fspath(value)
            if not path.strip():
                return ''
            return resolve_media_path(self.data_root, path) if self.data_root else os.path.abspath(path)
        if isinstance(value, (bytes, bytearray, memoryview)):
            data = bytes(value)
            return self._write(data, sniff_suffix(data))
        if _is_pil_image(value):
            buffer = io.BytesIO()
            value.save(buffer, format='PNG')
            return self._write(buffer.getvalue(), '.png')
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], int):
            return self._write_wav(np.asarray(value[0], dtype=np.float32), value[1])
        if hasattr(value, '__array__'):
            return self._write_array(np.asarray(value), spec)
        raise TypeError(f'record {position}: {name} must be a path, bytes, a PIL image, an array or '
                        f'(waveform, sample_rate), got {type(value).__name__}')

    def _write(self, data: bytes, suffix: str) -> str:
        if self.folder is None:
            raise RuntimeError('MediaStager.stage is used inside a `with` block')
        self._count += 1
        path = os.path.join(self.folder, f'{self._count:06d}{suffix}')
        with open(path, 'wb') as handle:
            handle.write(data)
        return path

    def _write_array(self, array: np.ndarray, spec: ModalitySpec) -> str:
        image_like = array.dtype == np.uint8 and (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3, 4)))
        if spec.source != 'feature' and image_like:
            from PIL import Image
            buffer = io.BytesIO()
            Image.fromarray(array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array).save(buffer, 'PNG')
            return self._write(buffer.getvalue(), '.png')
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return self._write(buffer.getvalue(), '.npy')

    def _write_wav(self, wave: np.ndarray, sample_rate: int) -> str:
        import soundfile
        if wave.ndim != 1 or sample_rate <= 0:
            raise ValueError(f'audio must be a 1-D waveform and a positive sample rate, got {wave.shape}, '
                             f'{sample_rate}')
        buffer = io.BytesIO()
        soundfile.write(buffer, wave, sample_rate, format='WAV', subtype='FLOAT')
        return self._write(buffer.getvalue(), '.wav')


def _is_pil_image(value: Any) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a dependency
        return False
    return isinstance(value, Image.Image)
