"""The M5Product release layout reader."""
from __future__ import annotations

import json
import os
from collections import defaultdict
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from m5mm.registry import DATASETS

from .base_dataset import DEFAULT_TOKENIZER, BaseProductDataset, RawRecord
from .errors import ManifestError

RAW_EXTENSIONS = {'image': ('.jpg', '.jpeg', '.png'), 'video': ('.mp4',), 'audio': ('.mp3', '.wav')}
FEATURE_EXTENSION = '.npy'
DEFAULT_FOLDERS = {'image': 'image', 'video': 'video', 'audio': 'audio'}


def _index_folder(folder: str) -> Dict[str, List[str]]:
    """stem -> file names in ``folder`` (empty if it does not exist)."""
    index: Dict[str, List[str]] = defaultdict(list)
    if os.path.isdir(folder):
        with os.scandir(folder) as entries:
            for entry in entries:
                stem, _ = os.path.splitext(entry.name)
                index[stem].append(entry.name)
    return index


@DATASETS.register_module()
class M5ProductDataset(BaseProductDataset):
    """Products in the M5Product release layout::

        DATA_ROOT/meta.json       {"<id>": {"title": ..., "pv": "k#:#v#;#k#:#v", "label": ...}, ...}
        DATA_ROOT/image/<id>.jpg  (or .png)
        DATA_ROOT/video/<id>.mp4  (or <id>.npy: S3D features)
        DATA_ROOT/audio/<id>.mp3  (or .wav, or <id>.npy features)

    ``title`` is the text, ``pv`` the table, ``label`` the category; an entry may also carry
    ``instance`` and ``split``. A ``.npy`` next to the media is the modality's feature file.

    Args:
        data_root: dataset folder.
        meta_file: the meta JSON (relative to ``data_root``), or ``{split: meta file}`` when the
            release ships one file per split; entries without ``split`` are ``train`` otherwise.
        folders: modality -> media folder (relative to ``data_root``).
        **see** :class:`BaseProductDataset` for the other arguments.
    """

    def __init__(self, *, data_root: str, meta_file: Union[str, Mapping[str, str]] = 'meta.json',
                 folders: Optional[Mapping[str, str]] = None,
                 split: Union[str, Sequence[str], None] = 'train',
                 modalities: Optional[Mapping[str, Optional[dict]]] = None,
                 tokenizer: Optional[dict] = DEFAULT_TOKENIZER, on_bad_line: str = 'error',
                 seed: int = 0) -> None:
        files = {None: meta_file} if isinstance(meta_file, str) else dict(meta_file)
        self.meta_files = {split_name: os.path.join(os.path.abspath(data_root), path)
                           for split_name, path in files.items()}
        missing = [path for path in self.meta_files.values() if not os.path.isfile(path)]
        if missing:
            raise FileNotFoundError(f'M5Product meta file(s) not found: {missing}')
        self.folders = dict(DEFAULT_FOLDERS if folders is None else folders)
        super().__init__(data_root=data_root, split=split, modalities=modalities, tokenizer=tokenizer,
                         on_bad_line=on_bad_line, seed=seed)

    @property
    def source_name(self) -> str:
        return ', '.join(self.meta_files.values())

    def absent_modality_hint(self, name: str) -> str:
        folder = self.folders.get(name)
        if folder is None:
            return ''
        return (f'; its files are looked up as {os.path.join(self.data_root, folder)}/<id>.<ext>: if the folder has '
                f'another name, set folders=dict({name}=...)')

    def _media_fields(self, record_id: str, indexes: Dict[str, Dict[str, List[str]]]) -> dict:
        fields = {}
        for modality, names in ((m, indexes[m].get(record_id, ())) for m in self.folders):
            folder = self.folders[modality]
            raw = [n for n in names if os.path.splitext(n)[1].lower() in RAW_EXTENSIONS.get(modality, ())]
            feats = [n for n in names if os.path.splitext(n)[1].lower() == FEATURE_EXTENSION]
            if raw:
                fields[modality] = f'{folder}/{sorted(raw)[0]}'
            if feats:
                fields[f'{modality}_feat'] = f'{folder}/{feats[0]}'
        return fields

    def iter_raw_records(self) -> Iterator[Tuple[str, RawRecord]]:
        indexes = {m: _index_folder(os.path.join(self.data_root, folder))
                   for m, folder in self.folders.items()}
        for split_name, path in self.meta_files.items():
            try:
                with open(path, encoding='utf-8-sig') as handle:   # (tolerates a byte-order mark)
                    entries = json.load(handle)
            except json.JSONDecodeError as exc:
                raise ManifestError(f'{path}:{exc.lineno}: invalid JSON: {exc.msg} '
                                    f'(column {exc.colno})') from None
            except UnicodeDecodeError as exc:
                raise ManifestError(f'{path}: not UTF-8 ({exc.reason})') from None
            if not isinstance(entries, dict):
                raise ManifestError(f'{path}: expected a JSON object mapping id -> entry, '
                                    f'got {type(entries).__name__}')
            for record_id, entry in entries.items():
                where = f'{path}: entry {record_id!r}'
                if not isinstance(entry, dict):
                    yield where, ValueError(f'expected an object with title/pv/label, '
                                            f'got {type(entry).__name__}')
                    continue
                raw = dict(id=record_id, text=entry.get('title'), table=entry.get('pv'),
                           category=entry.get('label'), instance=entry.get('instance'),
                           split=entry.get('split') or split_name or 'train')
                raw.update(self._media_fields(str(record_id), indexes))
                yield where, raw
