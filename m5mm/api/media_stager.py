"""Media given in memory (bytes, PIL images, arrays) written to files the modality pipelines read.

The pipelines decode files (PIL, decord, librosa, numpy), so an in-memory value is written once
to a private temporary folder, losslessly (encoded bytes as they are, images as PNG, arrays as
``.npy``, ``(waveform, sample_rate)`` as float WAV), and the record gets its absolute path.
"""
from __future__ import annotations

import io
import logging
import os
import shutil
import tempfile
from typing import Any, Dict, List, Mapping, NamedTuple, Optional

import numpy as np

from m5mm.datasets.errors import MISSING_FILE, MediaError
from m5mm.datasets.modalities.base_modality import ModalitySpec
from m5mm.datasets.paths import resolve_media_path

logger = logging.getLogger(__name__)

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


class MissingMedia(NamedTuple):
    """A media path of a record that names no file."""

    record: str      # the record's id (its position when it has none)
    modality: str
    given: str       # the path as the record gives it
    tried: str       # the absolute path looked for


class MediaStager:
    """Context manager that stages the media of raw records as files.

    Args:
        specs: modality name -> spec (which record fields hold media paths).
        data_root: folder that relative paths are resolved in (and may not escape); None: paths
            are taken as given (relative to the working directory).

    Paths that name no file are collected in :attr:`missing` (see :meth:`check_missing`).
    """

    def __init__(self, *, specs: Mapping[str, ModalitySpec], data_root: Optional[str] = None) -> None:
        self.specs = dict(specs)
        self.data_root = data_root
        self.folder: Optional[str] = None
        self.missing: List[MissingMedia] = []
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
                if isinstance(value, (str, os.PathLike)) and out[spec.record_field] \
                        and not os.path.exists(out[spec.record_field]):
                    self.missing.append(MissingMedia(str(record.get('id', position)), name, os.fspath(value),
                                                     out[spec.record_field]))
        return out

    def check_missing(self, *, on_error: str = 'raise') -> None:
        """Report the media paths that name no file, with the folder they were looked up in and what
        to change: a :class:`MediaError` (``on_error='raise'``) or one warning (they become absent)."""
        if not self.missing:
            return
        first = self.missing[0]
        if self.data_root is None:
            where = f'the working directory {os.getcwd()}'
            hint = ('relative media paths are looked up in the working directory; give data_root=the folder '
                    'they are relative to (for manifest records: the catalogue folder holding manifest.jsonl)')
        else:
            where = f'data_root {os.path.abspath(self.data_root)}'
            hint = 'check data_root: it should be the folder the records\' media paths are relative to'
        more = f' ({len(self.missing) - 1} more media paths name no file)' if len(self.missing) > 1 else ''
        message = (f'{first.modality} of record {first.record!r}: no file at {first.tried} '
                   f'({first.given!r} looked up in {where}){more}; {hint}')
        if on_error == 'raise':
            raise MediaError(MISSING_FILE, message)
        logger.warning('m5mm: %s (treated as absent)', message)

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
