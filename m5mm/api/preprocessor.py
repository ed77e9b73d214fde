"""A model's input side: the modality pipelines, tokenizer and batch templates of its test dataset."""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence

import torch

from m5mm.datasets.modalities.base_modality import ModalitySpec, Template
from m5mm.datasets.sample_builder import build_modality_pipelines
from m5mm.datasets.record_dataset import RecordDataset
from m5mm.datasets.tokenizer import TextTokenizer

from .model_folder import ModelFolderError


def resolved_modalities(specs: Mapping[str, ModalitySpec], modalities_cfg: Optional[Mapping[str, Any]]
                        ) -> Dict[str, dict]:
    """The dataset ``modalities`` config with every default spelled out (pipeline, source, spec)."""
    cfg = dict(modalities_cfg or {})
    out = {}
    for name, spec in specs.items():
        entry = dict(cfg.get(name) or {})
        pipeline = entry.get('pipeline')
        out[name] = dict(pipeline=[dict(step) for step in (spec.default_pipeline() if pipeline is None else pipeline)],
                         source=spec.source, spec=dict(entry.get('spec') or {}))
    return out


def templates_to_json(templates: Mapping[str, Template]) -> Dict[str, Dict[str, list]]:
    """``{m: {key: ((shape), dtype)}}`` -> ``{m: {key: [[shape], 'float32']}}``."""
    return {m: {key: [list(shape), str(dtype).replace('torch.', '')] for key, (shape, dtype) in t.items()}
            for m, t in templates.items()}


def templates_from_json(data: Mapping[str, Mapping[str, Sequence]]) -> Dict[str, Template]:
    """Inverse of :func:`templates_to_json` (only torch dtypes are accepted)."""
    out: Dict[str, Template] = {}
    for m, keys in data.items():
        out[m] = {}
        for key, (shape, dtype_name) in keys.items():
            dtype = getattr(torch, str(dtype_name), None)
            if not isinstance(dtype, torch.dtype):
                raise ModelFolderError(f'templates.{m}.{key}: {dtype_name!r} is not a torch dtype')
            out[m][key] = (tuple(int(d) for d in shape), dtype)
    return out


class Preprocessor:
    """Turns raw records into model batches exactly as the model's test dataset does.

    Args:
        modalities: the resolved dataset ``modalities`` config (see :func:`resolved_modalities`).
        tokenizer: the text/table tokenizer (None when no modality needs one).
        templates: modality -> item template (shapes used when a batch lacks the modality).
    """

    def __init__(self, *, modalities: Mapping[str, dict], tokenizer: Optional[TextTokenizer],
                 templates: Mapping[str, Template]) -> None:
        self.modalities = {name: dict(cfg) for name, cfg in modalities.items()}
        self.specs, self.pipelines = build_modality_pipelines(self.modalities)
        self.tokenizer = tokenizer
        if tokenizer is not None:
            for spec in self.specs.values():
                spec.pad_id = tokenizer.pad_id
        missing = [m for m in self.specs if m not in templates]
        if missing:
            raise ModelFolderError(f'no batch template for modalities {missing}')
        self.templates = dict(templates)

    @classmethod
    def from_dataset(cls, dataset, modalities_cfg: Optional[Mapping[str, Any]] = None) -> 'Preprocessor':
        """The preprocessor of a built dataset (``modalities_cfg``: its config's ``modalities``)."""
        return cls(modalities=resolved_modalities(dataset.specs, modalities_cfg), tokenizer=dataset.tokenizer,
                   templates={m: dataset.template(m) for m in dataset.specs})

    def template(self, name: str) -> Template:
        """Item template of modality ``name``."""
        return self.templates[name]

    def dataset(self, records: Sequence[Mapping[str, Any]], *, data_root: str, on_error: str = 'raise',
                categories: Optional[Sequence[str]] = None) -> RecordDataset:
        """A :class:`RecordDataset` of ``records`` through these pipelines."""
        return RecordDataset(records, specs=self.specs, pipelines=self.pipelines, data_root=data_root,
                             tokenizer=self.tokenizer, template_fn=self.template, categories=categories,
                             on_error=on_error)
