"""The M5Product release layout reader."""
from __future__ import annotations

import os
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from m5mm.registry import DATASETS

from .base_dataset import DEFAULT_TOKENIZER, BaseProductDataset, RawRecord
from .json_object_stream import iter_object_entries, read_entry
from .media_folder_index import MediaFolderIndex

RAW_EXTENSIONS = {'image': ('.jpg', '.jpeg', '.png'), 'video': ('.mp4',), 'audio': ('.mp3', '.wav')}
FEATURE_EXTENSION = '.npy'
DEFAULT_FOLDERS = {'image': 'image', 'video': 'video', 'audio': 'audio'}


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
        self._extensions: List[str] = []
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

    @property
    def locator_fields(self) -> Tuple[Tuple[str, str], ...]:
        media = [(f'{m}_{kind}', 'H') for m in self.folders for kind in ('raw', 'feat')]
        return (('file', 'B'), ('offset', 'q'), ('length', 'I'), *media)

    def _media_codes(self, record_id: str, indexes: Dict[str, MediaFolderIndex]) -> List[int]:
        """Per folder modality: code of the raw file's and of the feature file's extension (0: none)."""
        codes = []
        for modality in self.folders:
            found = indexes[modality].extensions_of(record_id)
            raw = [e for e in found if e.lower() in RAW_EXTENSIONS.get(modality, ())]
            feats = [e for e in found if e.lower() == FEATURE_EXTENSION]
            codes += [self._extension_code(min(raw)) if raw else 0, self._extension_code(min(feats)) if feats else 0]
        return codes

    def _extension_code(self, ext: str) -> int:
        if ext not in self._extensions:
            self._extensions.append(ext)
        return self._extensions.index(ext) + 1

    def _raw(self, record_id: str, entry: dict, split_name: Optional[str], locator: Mapping[str, int]) -> dict:
        raw = dict(id=record_id, text=entry.get('title'), table=entry.get('pv'), category=entry.get('label'),
                   instance=entry.get('instance'), split=entry.get('split') or split_name or 'train')
        for modality, folder in self.folders.items():
            for kind, key in (('raw', modality), ('feat', f'{modality}_feat')):
                code = locator[f'{modality}_{kind}']
                if code:
                    raw[key] = f'{folder}/{record_id}{self._extensions[code - 1]}'
        return raw

    def iter_raw_records(self) -> Iterator[Tuple[str, Tuple[int, ...], RawRecord]]:
        self._extensions: List[str] = []
        indexes = {m: MediaFolderIndex(folder=os.path.join(self.data_root, folder))
                   for m, folder in self.folders.items()}
        for file_index, (split_name, path) in enumerate(self.meta_files.items()):
            for record_id, entry, start, length in iter_object_entries(path):
                where = f'{path}: entry {record_id!r}'
                if not isinstance(entry, dict):
                    yield where, (file_index, start, length), ValueError(
                        f'expected an object with title/pv/label, got {type(entry).__name__}')
                    continue
                locator = (file_index, start, length, *self._media_codes(str(record_id), indexes))
                yield where, locator, self._raw(record_id, entry, split_name,
                                                dict(zip((n for n, _ in self.locator_fields), locator)))

    def read_raw(self, locator: Dict[str, int]) -> Any:
        split_name, path = list(self.meta_files.items())[locator['file']]
        record_id, entry = read_entry(self._open(path), locator['offset'], locator['length'])
        return self._raw(record_id, entry, split_name, locator)

    def describe(self, locator: Dict[str, int], record_id: str) -> str:
        return f'{list(self.meta_files.values())[locator["file"]]}: entry {record_id!r}'
