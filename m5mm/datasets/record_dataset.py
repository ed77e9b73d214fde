"""Products given in memory as manifest-line dicts, loaded by a dataset's modality pipelines."""
from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional, Sequence

from torch.utils.data import Dataset

from .errors import MediaError
from .modalities.base_modality import ModalitySpec, Template
from .records import normalize_record
from .sample_builder import SampleBuilder
from .transforms.compose import Compose

ON_ERROR = ('absent', 'raise')


class RecordDataset(SampleBuilder, Dataset):
    """A map-style dataset over raw records (``{'id': .., 'text': .., 'image': 'a.jpg', ...}``).

    Every record goes through the same validation (:func:`normalize_record`), modality pipelines
    (:meth:`SampleBuilder.run_pipeline`) and collate as a :class:`BaseProductDataset` sample, so its
    batches are those a dataset of the same records would give.

    Args:
        records: raw records; a missing ``id`` becomes the record's position.
        specs, pipelines: modality name -> spec / pipeline (see :func:`build_modality_pipelines`).
        data_root: the folder media paths are relative to (and may not escape).
        tokenizer: the text/table tokenizer (or None when no modality needs one).
        template_fn: modality -> item template, for batches in which no record has the modality
            (default: probe these records, else the spec's declared shapes).
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
        self.data_root = data_root
        self.tokenizer = tokenizer
        self._init_samples(None, seed, specs=specs, pipelines=pipelines)
        self.template_fn = template_fn
        self.category_to_index = {name: i for i, name in enumerate(categories or ())}
        self.on_error = on_error
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

    def _media_failed(self, name: str, record_id: str, exc: MediaError, errors: Optional[Dict[str, str]]) -> None:
        if self.on_error == 'raise' and errors is not None:   # raised by __getitem__, not treated as absent
            errors[name] = exc.reason
            return None
        return super()._media_failed(name, record_id, exc, errors)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        record = self.records[index]
        errors: Dict[str, str] = {}
        sample: Dict[str, Any] = dict(id=record['id'], index=index, instance=-1,
                                      category=self.category_to_index.get(record['category'], -1))
        for name in self.specs:
            sample[name] = self.run_pipeline(name, record['fields'][name], record['id'], index, errors)
        if errors and self.on_error == 'raise':
            name, reason = next(iter(errors.items()))
            raise MediaError(reason, f'{name} of record {record["id"]!r}')
        sample['errors'] = errors
        return sample

    def _probe_template(self, name: str) -> bool:
        if self.template_fn is not None:
            self._templates[name] = self.template_fn(name)
            return True
        return any(self.run_pipeline(name, r['fields'][name], r['id'], i, None) is not None
                   for i, r in enumerate(self.records) if r['fields'][name] is not None)
