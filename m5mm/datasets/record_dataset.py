"""Products given in memory as manifest-line dicts, loaded by a dataset's modality pipelines."""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from torch.utils.data import Dataset

from .collation import collate
from .errors import MediaError
from .modalities.base_modality import ModalitySpec, Template
from .modality_pipelines import load_modality_item, sample_seed
from .records import normalize_record
from .transforms.compose import Compose

ON_ERROR = ('absent', 'raise')


class RecordDataset(Dataset):
    """A map-style dataset over raw records (``{'id': .., 'text': .., 'image': 'a.jpg', ...}``).

    Every record goes through the same validation (:func:`normalize_record`), modality pipelines
    (:func:`load_modality_item`) and :func:`collate` as a :class:`BaseProductDataset` sample, so its
    batches are those a dataset of the same records would give.

    Args:
        records: raw records; a missing ``id`` becomes the record's position.
        specs, pipelines: modality name -> spec / pipeline (see :func:`build_modality_pipelines`).
        data_root: the folder media paths are relative to (and may not escape).
        tokenizer: the text/table tokenizer (or None when no modality needs one).
        template_fn: modality -> item template, for batches in which no record has the modality.
        categories: category names, so that ``meta['category']`` holds their index (-1 when unknown).
        on_error: ``'absent'`` (a media file that cannot be used makes its modality absent, as in
            training) or ``'raise'`` (a :class:`MediaError` naming the record and modality).
        seed: base seed of per-sample augmentation randomness.
    """

    def __init__(self, records: Sequence[Mapping[str, Any]], *, specs: Mapping[str, ModalitySpec],
                 pipelines: Mapping[str, Compose], data_root: str, tokenizer: Any = None,
                 template_fn: Optional[Callable[[str], Template]] = None,
                 categories: Optional[Sequence[str]] = None, on_error: str = 'absent', seed: int = 0) -> None:
        if on_error not in ON_ERROR:
            raise ValueError(f'on_error must be one of {ON_ERROR}, got {on_error!r}')
        self.specs = dict(specs)
        self.pipelines = dict(pipelines)
        self.data_root = data_root
        self.tokenizer = tokenizer
        self.template_fn = template_fn
        self.category_to_index = {name: i for i, name in enumerate(categories or ())}
        self.on_error = on_error
        self.seed = seed
        self.records = [self._normalize(raw, position) for position, raw in enumerate(records)]

    def _normalize(self, raw: Mapping[str, Any], position: int) -> dict:
        if not isinstance(raw, Mapping):
            raise ValueError(f'record {position}: expected a dict, got {type(raw).__name__}')
        raw = dict(raw)
        raw.setdefault('id', str(position))
        try:
            return normalize_record(raw, self.specs)
        except ValueError as exc:
            raise ValueError(f'record {position} ({raw.get("id")!r}): {exc}') from None

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        record = self.records[index]
        errors: Dict[str, str] = {}
        sample: Dict[str, Any] = dict(id=record['id'], index=index, instance=-1,
                                      category=self.category_to_index.get(record['category'], -1))
        for name, spec in self.specs.items():
            sample[name] = load_modality_item(name, spec, self.pipelines[name], record, index=index,
                                              data_root=self.data_root, tokenizer=self.tokenizer,
                                              seed=sample_seed(self.seed, 0, index), errors=errors)
        if errors and self.on_error == 'raise':
            name, reason = next(iter(errors.items()))
            raise MediaError(reason, f'{name} of record {record["id"]!r}')
        sample['errors'] = errors
        return sample

    def collate(self, samples: List[dict]) -> dict:
        """Batch samples (a DataLoader ``collate_fn``)."""
        return collate(samples, modalities=self.specs, template_fn=self.template_fn)
