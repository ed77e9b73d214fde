"""Embed products from Python: ``ProductEncoder.from_pretrained(PATH).encode(records)``."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from m5mm.evaluation.features import KINDS, extract_features

from .media_stager import MediaStager
from .preprocessor import Preprocessor

PathLike = Union[str, Path]
#: what runs the model: the torch module, or its ONNX export on onnxruntime (:mod:`m5mm.deploy`)
BACKENDS = ('torch', 'onnx')


class Encoding(NamedTuple):
    """What :meth:`ProductEncoder.encode` returns."""

    features: np.ndarray            # (N, D) float32, one row per record, in input order
    ids: List[str]                  # the records' ids (position when a record has none)
    present: Dict[str, np.ndarray]  # modality -> (N,) bool: whether it was present for the model


def default_device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device('cuda' if torch.cuda.is_available() else 'cpu')


def weights_fingerprint(model: nn.Module) -> str:
    """sha256 of a module's weights (names, dtypes, shapes, values)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        value = tensor.detach().cpu().contiguous()
        digest.update(f'{name}|{value.dtype}|{tuple(value.shape)}|'.encode())
        digest.update(value.view(torch.uint8).numpy().tobytes() if value.numel() else b'')
    return digest.hexdigest()


def _is_empty(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, (list, tuple, dict, bytes)) and len(value) == 0)


class ProductEncoder:
    """A trained model with its own preprocessing: raw product records in, vectors out.

    Build it with :meth:`from_pretrained`; the constructor takes already built parts.

    Args:
        model: has ``extract_features(batch)`` (any m5mm pretrainer or classifier).
        preprocessor: the test dataset's modality pipelines, tokenizer and batch templates.
        config: the model folder description (model config, data meta, feature kind, provenance;
            see :mod:`m5mm.api.model_folder`).
        evaluation: results, robustness table and data summary for the model card (optional).
        source: where the model was loaded from (a path or hub id), for messages.
        device: where the model runs (default CUDA when available; the ONNX backend runs on the CPU).
        backend: 'torch' (``model`` is the torch module) or 'onnx' (``model`` is an
            :class:`~m5mm.deploy.OnnxBackbone`).
    """

    def __init__(self, *, model: nn.Module, preprocessor: Preprocessor, config: Mapping[str, Any],
                 evaluation: Optional[Mapping[str, Any]] = None, source: Optional[str] = None,
                 device: Union[str, torch.device, None] = None, backend: str = 'torch') -> None:
        self.model = model.eval()
        self.preprocessor = preprocessor
        self.config = dict(config)
        self.evaluation = dict(evaluation or {})
        self.source = source
        if backend not in BACKENDS:
            raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
        self.backend = backend
        self.device = torch.device(device) if device is not None else \
            torch.device('cpu') if self.backend == 'onnx' else default_device()
        self.model.to(self.device)
        self._fingerprint: Optional[str] = None

    # ------------------------------------------------------------------ loading and saving
    @classmethod
    def from_pretrained(cls, path: PathLike, *, config: Optional[PathLike] = None,
                        cfg_options: Optional[dict] = None, revision: Optional[str] = None,
                        cache_dir: Optional[str] = None, device: Union[str, torch.device, None] = None,
                        backend: str = 'torch', onnx_dir: Optional[PathLike] = None) -> 'ProductEncoder':
        """Load a model folder, a checkpoint dir, a work dir (latest checkpoint), a weights file
        (with ``config``) or a Hugging Face Hub id (``'org/name'``, through the local cache).

        Args:
            config, cfg_options: the training config of a checkpoint (default: its ``config.json``, read as
                data with registered names only; a Python config given here is executed).
            revision, cache_dir: of a hub download.
            backend: 'torch', or 'onnx': the graphs of ``tools/export_onnx.py`` in ``onnx_dir`` (default
                ``PATH/onnx``) run on onnxruntime (CPU); they must have been exported from these weights.
        """
        from .loading import load_encoder_parts
        if backend not in BACKENDS:
            raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
        parts = load_encoder_parts(path, config=config, cfg_options=cfg_options, revision=revision,
                                   cache_dir=cache_dir)
        if backend == 'onnx':
            from m5mm.deploy.onnx_backend import onnx_parts
            parts = onnx_parts(parts, Path(onnx_dir) if onnx_dir is not None else Path(path) / 'onnx')
        return cls(device=device, **parts)

    def save_pretrained(self, out_dir: PathLike, *, evaluation: Optional[Mapping[str, Any]] = None) -> Path:
        """Write the self-contained model folder (see :mod:`m5mm.api.model_folder`); returns it."""
        from .folder_writer import write_model_folder
        if self.backend != 'torch':
            raise ValueError('save_pretrained needs the torch weights: load the model folder with backend="torch"')
        return write_model_folder(self, out_dir, evaluation=evaluation)

    def push_to_hub(self, repo_id: str, *, token: Optional[str] = None, private: bool = False,
                    commit_message: str = 'Upload m5mm model', api: Any = None) -> str:
        """Save the model folder and upload it to the Hugging Face Hub; returns the commit URL."""
        import tempfile

        from .hub import push_folder_to_hub
        with tempfile.TemporaryDirectory(prefix='m5mm-push-') as tmp:
            folder = self.save_pretrained(Path(tmp) / 'model')
            return push_folder_to_hub(folder, repo_id, token=token, private=private,
                                      commit_message=commit_message, api=api)

    # ------------------------------------------------------------------ properties
    @property
    def modalities(self) -> List[str]:
        """The modalities a record may have."""
        return list(self.preprocessor.specs)

    @property
    def feature(self) -> str:
        """The vector :meth:`encode` returns by default ('joint', 'fused' or 'pooled')."""
        return self.config.get('feature', 'joint')

    @property
    def categories(self) -> List[str]:
        """The category names of the training data (index = label)."""
        return list(self.config.get('data_meta', {}).get('categories') or [])

    @property
    def fingerprint(self) -> str:
        """sha256 of the weights (names, dtypes, shapes, values): identifies the model an index was built with."""
        if self._fingerprint is None and self.backend == 'onnx':
            self._fingerprint = self.model.fingerprint
        if self._fingerprint is None:
            self._fingerprint = weights_fingerprint(self.model)
        return self._fingerprint

    # ------------------------------------------------------------------ encoding
    def encode(self, records: Sequence[Mapping[str, Any]], *, modalities: Optional[Sequence[str]] = None,
               batch_size: int = 32, device: Union[str, torch.device, None] = None, progress: bool = True,
               data_root: Optional[str] = None, kind: Optional[str] = None, num_workers: int = 0,
               on_error: str = 'raise') -> Encoding:
        """Vectors of raw records, through the evaluation's pipelines, collate and ``extract_features``.

        Args:
            records: manifest-like dicts (``id``, ``text``, ``table``, ``image``, ...); a media field
                may be a path, encoded bytes, a PIL image, an array or ``(waveform, sample_rate)``.
                Any subset of modalities; an absent one is None or missing.
            modalities: use only these modalities (the others are treated as absent); None = all.
            data_root: folder relative media paths are resolved in (and may not escape); None: the
                working directory. Manifest records need their catalogue folder here.
            kind: 'joint' (default: the model folder's feature), 'fused' or 'pooled'.
            on_error: 'raise' (a MediaError naming the record, and for a path that names no file
                the path tried) or 'absent' (unusable media are treated as absent, as in training).

        Returns:
            :class:`Encoding` ``(features (N, D) float32, ids, present)``.
        """
        kind = kind or self.feature
        if kind not in KINDS:
            raise ValueError(f'kind must be one of {KINDS}, got {kind!r}')
        keep = self._check_modalities(modalities)
        if device is not None and torch.device(device) != self.device:
            self.device = torch.device(device)
            self.model.to(self.device)
        if not records:
            raise ValueError('encode: no records given')
        self._check_not_empty(records)
        with MediaStager(specs=self.preprocessor.specs, data_root=data_root) as stager:
            staged = [stager.stage(self._only(record, keep), i) for i, record in enumerate(records)]
            dataset = self.preprocessor.dataset(staged, data_root=os.path.abspath(os.sep), on_error=on_error)
            stager.check_missing(on_error=on_error)
            loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=dataset.collate,
                                num_workers=num_workers)
            if progress:
                from tqdm.auto import tqdm
                loader = tqdm(loader, desc='encode', unit='batch')
            out = extract_features(self.model, loader, kind=kind, modalities=modalities)
        return Encoding(features=out['features'], ids=list(out['ids']), present=dict(out['present']))

    def collate_records(self, records: Sequence[Mapping[str, Any]], *, data_root: Optional[str] = None,
                        on_error: str = 'raise') -> Dict[str, Any]:
        """One collated batch of ``records`` as :meth:`encode` prepares them (e.g. to trace a graph on)."""
        if not records:
            raise ValueError('collate_records: no records given')
        self._check_not_empty(records)
        with MediaStager(specs=self.preprocessor.specs, data_root=data_root) as stager:
            staged = [stager.stage(record, i) for i, record in enumerate(records)]
            dataset = self.preprocessor.dataset(staged, data_root=os.path.abspath(os.sep), on_error=on_error)
            stager.check_missing(on_error=on_error)
            return dataset.collate([dataset[i] for i in range(len(dataset))])

    def encode_text(self, texts: Sequence[str], **kwargs) -> np.ndarray:
        """(N, D) vectors of texts (titles / queries) as products that have only a title."""
        if isinstance(texts, str):
            raise TypeError('encode_text takes a list of strings')
        return self.encode([dict(id=str(i), text=t) for i, t in enumerate(texts)], modalities=['text'],
                           **dict(dict(progress=False), **kwargs)).features

    def encode_image(self, images: Sequence[Any], **kwargs) -> np.ndarray:
        """(N, D) vectors of images (paths, bytes, PIL images or uint8 arrays) as image-only products."""
        return self.encode([dict(id=str(i), image=img) for i, img in enumerate(images)], modalities=['image'],
                           **dict(dict(progress=False), **kwargs)).features

    def _check_modalities(self, modalities: Optional[Sequence[str]]) -> Optional[List[str]]:
        if modalities is None:
            return None
        if isinstance(modalities, str):
            modalities = [modalities]
        unknown = [m for m in modalities if m not in self.preprocessor.specs]
        if unknown or not modalities:
            raise ValueError(f'modalities {list(modalities)}: choose from the model\'s {self.modalities}')
        return list(modalities)

    def _only(self, record: Any, keep: Optional[List[str]]) -> Any:
        if keep is None or not isinstance(record, Mapping):
            return record
        fields = {spec.record_field for name, spec in self.preprocessor.specs.items() if name not in keep}
        return {key: value for key, value in record.items() if key not in fields}

    def _check_not_empty(self, records: Sequence[Mapping[str, Any]]) -> None:
        """A record with none of the model's modalities is an error (one lacking only some is not), and so is a
        raw medium given to a modality the model reads as cached tower features (it would be ignored)."""
        self._check_no_raw_for_cached(records)
        fields = [spec.record_field for spec in self.preprocessor.specs.values()]
        for position, record in enumerate(records):
            if isinstance(record, Mapping) and all(_is_empty(record.get(f)) for f in fields):
                raise ValueError(f'record {record.get("id", position)!r} has none of the modalities '
                                 f'{self.modalities}: nothing to encode')

    def _check_no_raw_for_cached(self, records: Sequence[Mapping[str, Any]]) -> None:
        """A model exported from a run on cached features (``source='feature'``) reads ``<m>_feat``; a record
        giving the raw ``<m>`` instead (a photo query) would otherwise lose it without a word."""
        cached = {name: spec for name, spec in self.preprocessor.specs.items()
                  if spec.source == 'feature' and spec.record_field != spec.field}
        for position, record in enumerate(records):
            if not isinstance(record, Mapping):
                continue
            for name, spec in cached.items():
                if spec.record_field not in record and not _is_empty(record.get(spec.field)):
                    raise ValueError(
                        f'record {record.get("id", position)!r} gives {spec.field!r}, but this model reads {name} as '
                        f'cached tower features from {spec.record_field!r} (tools/cache_features.py), not as raw '
                        f'media: it was exported from a run trained on cached features. Export that run again with '
                        f'the config that reads raw media (tools/export_model.py RUN --config CONFIG, e.g. '
                        f'configs/scale_5mod_packaged.py for configs/scale_5mod_packaged_cached.py), or give '
                        f'{spec.record_field!r}')

    def __repr__(self) -> str:
        return (f'ProductEncoder(source={self.source!r}, modalities={self.modalities}, feature={self.feature!r}, '
                f'device={self.device}, backend={self.backend!r})')
