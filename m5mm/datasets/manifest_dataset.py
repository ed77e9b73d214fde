"""The m5mm JSON-lines manifest reader."""
from __future__ import annotations

import codecs
import json
import logging
import os
from typing import Any, Dict, Iterator, Mapping, Optional, Sequence, Tuple, Union

from m5mm.registry import CATALOGUES, DATASETS

from .base_dataset import DEFAULT_TOKENIZER, BaseProductDataset, RawRecord
from .file_lock import file_lock

logger = logging.getLogger(__name__)

DEFAULT_MANIFEST = 'manifest.jsonl'


@DATASETS.register_module()
class ManifestDataset(BaseProductDataset):
    """Products from a JSON-lines manifest, one product per line::

        {"id": "A123", "text": "red cotton t-shirt", "table": [["brand", "Acme"], ["color", "red"]],
         "image": "images/A123.jpg", "video": "videos/A123.mp4", "audio": "audio/A123.wav",
         "category": "clothing", "instance": "sku-77", "split": "train"}

    A missing modality is null or absent; ``split`` defaults to ``train``; ``<modality>_feat``
    keys point to ``.npy`` features read when that modality's source is ``'feature'``. Paths
    are relative to ``data_root``.

    Args:
        data_root: dataset folder.
        manifest: manifest file; None = ``DATA_ROOT/manifest.jsonl``; a relative path is looked up
            in ``data_root`` first, then in the working directory.
        generate_if_missing: when the manifest does not exist, write a synthetic catalogue into
            ``data_root``: ``dict(type='demo', num_products=400, seed=0)`` calls the ``CATALOGUES``
            entry ``type`` (default ``'demo'``) as ``generator(data_root, **other keys)``.
        **see** :class:`BaseProductDataset` for ``split``, ``modalities``, ``tokenizer``,
        ``on_bad_line`` and ``seed``.
    """

    def __init__(self, *, data_root: str, manifest: Optional[str] = None,
                 split: Union[str, Sequence[str], None] = 'train',
                 modalities: Optional[Mapping[str, Optional[dict]]] = None,
                 tokenizer: Optional[dict] = DEFAULT_TOKENIZER, on_bad_line: str = 'error',
                 seed: int = 0, generate_if_missing: Optional[dict] = None) -> None:
        self.manifest = self._resolve_manifest(data_root, manifest)
        if not os.path.isfile(self.manifest):
            if generate_if_missing is None:
                raise FileNotFoundError(
                    f'manifest not found: {self.manifest}. Point data_root/manifest at a dataset, or set '
                    "generate_if_missing=dict(type='demo', num_products=400, seed=0) to create demo data there.")
            self._generate(data_root, generate_if_missing)
        super().__init__(data_root=data_root, split=split, modalities=modalities, tokenizer=tokenizer,
                         on_bad_line=on_bad_line, seed=seed)

    @staticmethod
    def _resolve_manifest(data_root: str, manifest: Optional[str]) -> str:
        if manifest is None:
            return os.path.abspath(os.path.join(data_root, DEFAULT_MANIFEST))
        in_root = os.path.join(data_root, manifest)
        if os.path.isabs(manifest) or os.path.exists(in_root) or not os.path.exists(manifest):
            return os.path.abspath(in_root)
        return os.path.abspath(manifest)

    def _generate(self, data_root: str, options: dict) -> None:
        with file_lock(os.path.abspath(data_root).rstrip(os.sep) + '.lock'):
            if os.path.isfile(self.manifest):  # another process generated it meanwhile
                return
            options = {'type': 'demo', **options}
            logger.info('m5mm: no manifest at %s; generating a %r catalogue (%s)', self.manifest,
                        options['type'], options)
            CATALOGUES.build(dict(options, out_dir=data_root))
        if not os.path.isfile(self.manifest):
            raise FileNotFoundError(f'the {options["type"]!r} catalogue generator did not write {self.manifest}')

    @property
    def source_name(self) -> str:
        return self.manifest

    locator_fields = (('offset', 'q'), ('length', 'I'))

    def iter_raw_records(self) -> Iterator[Tuple[str, Tuple[int, int], RawRecord]]:
        offset = 0
        with open(self.manifest, 'rb') as handle:
            for lineno, line in enumerate(handle, 1):
                start = offset
                offset += len(line)
                if lineno == 1 and line.startswith(codecs.BOM_UTF8):   # a byte-order mark is not data
                    start, line = start + len(codecs.BOM_UTF8), line[len(codecs.BOM_UTF8):]
                where, locator = f'{self.manifest}:{lineno}', (start, len(line))
                try:
                    text = line.decode('utf-8').strip()
                except UnicodeDecodeError as exc:
                    yield where, locator, ValueError(f'not UTF-8 ({exc.reason} at byte {exc.start})')
                    continue
                if not text:
                    continue
                try:
                    yield where, locator, json.loads(text)
                except json.JSONDecodeError as exc:
                    yield where, locator, ValueError(f'invalid JSON: {exc.msg} (column {exc.colno})')

    def read_raw(self, locator: Dict[str, int]) -> Any:
        line = os.pread(self._open(self.manifest), locator['length'], locator['offset'])
        return json.loads(line.decode('utf-8'))

    def describe(self, locator: Dict[str, int], record_id: str) -> str:
        """``MANIFEST:LINE`` of the record at ``locator`` (counts the newlines before it)."""
        newlines, left = 0, locator['offset']
        with open(self.manifest, 'rb') as handle:
            while left > 0:
                chunk = handle.read(min(left, 1 << 20))
                if not chunk:
                    break
                newlines += chunk.count(b'\n')
                left -= len(chunk)
        return f'{self.manifest}:{newlines + 1}'
