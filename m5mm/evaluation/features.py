"""Feature export: run a model over a dataloader, collect one vector per product, save/load .npz.

The model follows the contract of docs/concepts.md: ``model.extract_features(batch)`` returns
``{'joint': (B, D), 'fused': {m: (B, D)}, 'pooled': {m: (B, D)}, 'present': {m: (B,)}}`` and
``batch['meta']`` holds ``ids`` and per-sample labels.

A features dict (what :func:`extract_features` returns and :func:`load_features` reads) is::

    {'ids': list[str], 'features': (N, D) float32,
     'category': (N,) int64, 'instance': (N,) int64, 'index': (N,) int64, ...  # every meta key
     'present': {m: (N,) bool},
     'modality_features': {m: (N, D) float32},                                 # keep_modalities
     'logits': (N, C) float32}        # any other (B, ...) tensor extract_features returns, by its name
"""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch
from accelerate.utils import send_to_device
from torch import Tensor

from m5mm.structures import META_KEY, Batch
from m5mm.utils.distributed import unwrap_model

from .modality_mask import drop_modalities

logger = logging.getLogger(__name__)

KINDS = ('joint', 'fused', 'pooled')
_CONTRACT = KINDS + ('present',)
COMBINES = ('sum', 'mean', 'concat')
_PRESENT, _MODALITY = 'present.', 'features.'
_PLAIN = (str, int, float, bool, np.generic)


def combine_modalities(vectors: Mapping[str, Tensor], present: Mapping[str, Tensor],
                       modalities: Sequence[str], combine: str = 'sum') -> Tensor:
    """Per-modality (B, D) vectors -> (B, D) (sum or mean of the present ones) or (B, M*D) (concat).

    An absent modality never contributes ('concat' puts zeros in its slot); a sample with none
    of ``modalities`` present gets a zero vector.
    """
    if combine not in COMBINES:
        raise ValueError(f'combine must be one of {COMBINES}, got {combine!r}')
    missing = [m for m in modalities if m not in vectors]
    if missing:
        raise KeyError(f'the model returned no features for {missing}; it has {sorted(vectors)}')
    masked = [vectors[m] * present[m].to(vectors[m].dtype).unsqueeze(1) for m in modalities]
    if combine == 'concat':
        return torch.cat(masked, dim=1)
    total = torch.stack(masked).sum(dim=0)
    if combine == 'mean':
        count = torch.stack([present[m].to(total.dtype) for m in modalities]).sum(dim=0)
        total = total / count.clamp_min(1).unsqueeze(1)
    return total


def _unwrap(model: Any) -> Any:
    model = unwrap_model(model)
    if not hasattr(model, 'extract_features'):
        raise TypeError(f'{type(model).__name__} has no extract_features(batch) method '
                        '(see docs/concepts.md)')
    return model


def _model_device(model: Any) -> torch.device:
    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device('cpu')


def _batch_record(out: Dict[str, Any], batch: Batch, kind: str, modalities: Optional[Sequence[str]],
                  combine: str, keep_modalities: bool) -> Dict[str, Any]:
    """The tensors of one batch to collect: features, presence, per-modality vectors, meta."""
    if kind not in out:
        raise KeyError(f"model.extract_features returned no {kind!r} entry; it has {sorted(out)}")
    present = {m: p.bool() for m, p in out.get('present', {}).items()}
    source = out.get('pooled', {}) if kind == 'joint' else out[kind]
    names = list(modalities) if modalities is not None else list(source)
    if kind == 'joint':
        feats = out['joint']
    else:
        feats = combine_modalities(out[kind], present, names, combine)
    record = {'features': feats.float(), 'present': {m: present[m].to(torch.uint8) for m in present}}
    if keep_modalities:
        record['modality_features'] = {m: source[m].float() for m in names}
    outputs = {key: value.float() for key, value in out.items() if key not in _CONTRACT
               and isinstance(value, Tensor) and value.dim() >= 1 and value.shape[0] == feats.shape[0]}
    if outputs:  # e.g. a fine-tuned classifier's (B, C) logits
        record['outputs'] = outputs
    meta = batch[META_KEY]
    for key, value in meta.items():
        if isinstance(value, Tensor) and value.dim() >= 1 and value.shape[0] == feats.shape[0]:
            record.setdefault('meta', {})[key] = value
    return record


def _gather(record: Dict[str, Any], ids: List[str], extras: Dict[str, list], accelerator: Any):
    if accelerator is None:
        return record, ids, extras
    record = accelerator.gather_for_metrics(record)
    return record, accelerator.gather_for_metrics(ids), {k: accelerator.gather_for_metrics(v)
                                                         for k, v in extras.items()}


def _concat(records: List[Dict[str, Any]]) -> Dict[str, Any]:
    first = records[0]
    if isinstance(first, Tensor):
        return torch.cat([r.detach() for r in records]).numpy()
    return {key: _concat([r[key] for r in records]) for key in first}


@torch.no_grad()
def extract_features(model: Any, dataloader: Any, *, kind: str = 'joint',
                     modalities: Optional[Sequence[str]] = None, combine: str = 'sum',
                     keep_modalities: bool = False, accelerator: Any = None,
                     media_report: Any = None) -> Dict[str, Any]:
    """One feature vector per sample of ``dataloader``.

    Args:
        model: has ``extract_features(batch)`` (DDP/DeepSpeed wrappers are unwrapped).
        dataloader: yields collated batches (prepared by ``accelerator`` when one is given).
        kind: 'joint' (the model's product vector), 'fused' or 'pooled' (per-modality
            vectors combined by ``combine``).
        modalities: run the model with only these modalities present (the others are
            dropped from each batch) and combine only these; None = all.
        combine: 'sum' (the authors' code), 'mean' or 'concat' for ``kind`` fused/pooled.
        keep_modalities: also return each modality's vector (pooled for 'joint').
        accelerator: an ``accelerate.Accelerator``; results are gathered from all processes
            (every process gets the full result).
        media_report: a :class:`m5mm.datasets.MediaReport` that counts the batches' unreadable media
            (this process's batches).

    Returns:
        The features dict of this module's docstring, sorted by dataset ``index`` when the meta
        has one (an index repeated to even out processes is kept once).
    """
    if kind not in KINDS:
        raise ValueError(f'kind must be one of {KINDS}, got {kind!r}')
    net = _unwrap(model)
    device = accelerator.device if accelerator is not None else _model_device(net)
    was_training = getattr(net, 'training', False)
    if hasattr(net, 'eval'):
        net.eval()
    records, all_ids, extras = [], [], {}
    try:
        for batch in dataloader:
            if media_report is not None:
                media_report.update(batch[META_KEY])
            if modalities is not None:
                batch = drop_modalities(batch, keep=modalities)
            if accelerator is None:
                batch = send_to_device(batch, device, non_blocking=device.type != 'cpu')
            out = net.extract_features(batch)
            record = _batch_record(out, batch, kind, modalities, combine, keep_modalities)
            ids = [str(i) for i in batch[META_KEY]['ids']]
            batch_extras = {k: list(v) for k, v in batch[META_KEY].items()  # plain values only (not 'errors')
                            if k != 'ids' and isinstance(v, (list, tuple)) and len(v) == len(ids)
                            and all(isinstance(x, _PLAIN) for x in v)}
            record, ids, batch_extras = _gather(record, ids, batch_extras, accelerator)
            records.append(send_to_device(record, 'cpu'))
            all_ids.extend(ids)
            for key, value in batch_extras.items():
                extras.setdefault(key, []).extend(value)
    finally:
        if was_training and hasattr(net, 'train'):
            net.train()
    if not records:
        raise ValueError('extract_features: the dataloader yielded no batch')
    return _assemble(_concat(records), all_ids, extras)


def _assemble(data: Dict[str, Any], ids: List[str], extras: Dict[str, list]) -> Dict[str, Any]:
    result: Dict[str, Any] = {'ids': ids, 'features': data['features'].astype(np.float32)}
    for key, value in data.get('meta', {}).items():
        result[key] = value
    for key, value in extras.items():
        result[key] = np.asarray(value)
    for key, value in data.get('outputs', {}).items():
        result.setdefault(key, value.astype(np.float32))
    result['present'] = {m: v.astype(bool) for m, v in data['present'].items()}
    if 'modality_features' in data:
        result['modality_features'] = {m: v.astype(np.float32) for m, v in data['modality_features'].items()}
    if 'index' in result:
        order = np.argsort(result['index'], kind='stable')
        index = np.asarray(result['index'])[order]
        first = np.concatenate([[True], index[1:] != index[:-1]])  # a sample repeated to even out ranks
        result = select_rows(result, order[first])
    return result


def select_rows(data: Mapping[str, Any], rows) -> Dict[str, Any]:
    """A features dict restricted to ``rows`` (an index array or a bool mask) of every field."""
    rows = np.asarray(rows)
    if rows.dtype == bool:
        rows = np.nonzero(rows)[0]
    out: Dict[str, Any] = {}
    for key, value in data.items():
        if key == 'ids':
            out[key] = [value[i] for i in rows]
        elif isinstance(value, Mapping):
            out[key] = {m: np.asarray(v)[rows] for m, v in value.items()}
        else:
            out[key] = np.asarray(value)[rows]
    return out


def save_features(path: str, data: Mapping[str, Any]) -> str:
    """Write a features dict to ``path`` (.npz, no pickle); returns the path written.

    ``ids`` are stored as a unicode array, ``features`` as (N, D) float32, every other
    (N,)-long field as is; ``present[m]`` and ``modality_features[m]`` as ``present.m`` and
    ``features.m``.
    """
    if 'ids' not in data or 'features' not in data:
        raise KeyError("save_features needs 'ids' and 'features'")
    feats = np.asarray(data['features'], dtype=np.float32)
    n = len(data['ids'])
    if feats.ndim != 2 or feats.shape[0] != n:
        raise ValueError(f'features must be (N, D) with N = len(ids) = {n}, got {feats.shape}')
    arrays = {'ids': np.asarray([str(i) for i in data['ids']], dtype=np.str_), 'features': feats}
    for key, value in data.items():
        if key in ('ids', 'features'):
            continue
        if isinstance(value, Mapping):
            prefix = _PRESENT if key == 'present' else _MODALITY if key == 'modality_features' else f'{key}.'
            arrays.update({prefix + m: np.asarray(v) for m, v in value.items()})
        else:
            arrays[key] = np.asarray(value)
    for key, value in arrays.items():
        if value.ndim == 0 or value.shape[0] != n:
            raise ValueError(f'field {key!r} has shape {value.shape}, expected {n} rows')
        if value.dtype == object:
            raise ValueError(f'field {key!r} holds Python objects, which an .npz without pickles '
                             'cannot store')
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    if not path.endswith('.npz'):
        path += '.npz'
    np.savez(path, **arrays)
    return path


def load_features(path: str) -> Dict[str, Any]:
    """Read a .npz written by :func:`save_features` back into a features dict."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'no features file at {path!r}')
    with np.load(path, allow_pickle=False) as npz:
        missing = {'ids', 'features'} - set(npz.files)
        if missing:
            raise KeyError(f'{path} is not an m5mm features file: it lacks {sorted(missing)}')
        data: Dict[str, Any] = {'ids': [str(i) for i in npz['ids']],
                                'features': npz['features'].astype(np.float32)}
        for key in npz.files:
            if key in ('ids', 'features'):
                continue
            if key.startswith(_PRESENT):
                data.setdefault('present', {})[key[len(_PRESENT):]] = npz[key].astype(bool)
            elif key.startswith(_MODALITY):
                data.setdefault('modality_features', {})[key[len(_MODALITY):]] = npz[key]
            elif '.' in key:
                group, name = key.split('.', 1)
                data.setdefault(group, {})[name] = npz[key]
            else:
                data[key] = npz[key]
    return data
