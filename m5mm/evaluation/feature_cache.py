"""``tools/cache_features.py`` as a function: run a config's frozen towers once over its dataset.

For every frozen :class:`~m5mm.models.encoders.PretrainedTowerEncoder` of ``cfg.model`` (image,
video, audio) the tower's backbone tokens of each sample are written to
``OUT/<modality>/<xx>/<id>.npy`` (``xx``: two hex digits spreading millions of files over 256
folders), with ``OUT/<modality>/cache_record.json`` (model, fingerprint, preprocessing) and
``OUT/manifest.jsonl``: the source manifest with ``<modality>_feat`` keys added. Training with
that manifest and ``source='feature'`` (``LoadCachedFeature``) then skips the towers' backbones.

Existing files are kept (a killed run continues where it stopped); ``shard=(i, n)`` caches every
n-th record from the i-th, so n processes share the work; ``manifest_only`` then writes the
manifest of everything cached.
"""
from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import re
import time
from typing import Dict, Iterable, Optional, Sequence, Tuple

import numpy as np
import torch
from accelerate.utils import send_to_device
from torch.utils.data import DataLoader, Subset

from m5mm.datasets.feature_record import RECORD_NAME, write_record
from m5mm.datasets.loaders import build_dataset
from m5mm.registry import ENCODERS
from m5mm.utils.plugins import import_config_modules
from m5mm.version import __version__

logger = logging.getLogger(__name__)
DTYPES = ('float16', 'float32')
MANIFEST = 'manifest.jsonl'


def feature_file(sample_id: str) -> str:
    """``xx/<safe id>-<hash>.npy``: a file name for any id (slashes, unicode), spread over 256 folders."""
    digest = hashlib.sha1(sample_id.encode('utf-8')).hexdigest()
    safe = re.sub(r'[^A-Za-z0-9._-]', '_', sample_id)[:80]
    return f'{digest[:2]}/{safe}-{digest[:10]}.npy'


def cached_towers(cfg, modalities: Optional[Sequence[str]] = None) -> Dict[str, dict]:
    """modality -> encoder config of the config's frozen pretrained towers (all, or ``modalities``)."""
    from m5mm.models.encoders import PretrainedTowerEncoder
    encoders = {m: c for m, c in dict(cfg.model.get('encoders') or {}).items() if c is not None}
    frozen = {m: dict(c) for m, c in encoders.items() if isinstance(c, dict) and c.get('freeze')
              and issubclass(ENCODERS.get(c.get('type')) or object, PretrainedTowerEncoder)}
    if modalities is not None:
        unknown = [m for m in modalities if m not in frozen]
        if unknown:
            raise ValueError(f'{unknown} have no frozen pretrained tower in the config (frozen towers: '
                             f'{sorted(frozen)}); only freeze=True towers can be cached')
        frozen = {m: frozen[m] for m in modalities}
    if not frozen:
        raise ValueError('the config has no frozen pretrained tower (PretrainedImageEncoder / VideoEncoder / '
                         'AudioEncoder with freeze=True) to cache')
    return frozen


def _dataset_cfg(cfg, towers: Iterable[str], out: str) -> dict:
    dataset_cfg = copy.deepcopy(dict(cfg.train_dataloader.dataset))
    if dataset_cfg.get('type') != 'ManifestDataset':
        raise ValueError(f'feature caching reads a ManifestDataset (its manifest is copied with <modality>_feat '
                         f'keys); the config has {dataset_cfg.get("type")}')
    modalities = dict(dataset_cfg.get('modalities') or {})
    for m in towers:
        if dict(modalities.get(m) or {}).get('source', 'raw') != 'raw':
            raise ValueError(f'modality {m} is read from features in this config; cache from the config that '
                             f'reads raw {m} (the live one)')
    dataset_cfg.update(split=None, tokenizer=None, on_bad_line='skip',
                       modalities={m: modalities.get(m) for m in towers})
    root = os.path.abspath(dataset_cfg['data_root'])
    if os.path.commonpath([root, os.path.abspath(out)]) != root:
        raise ValueError(f'--out {out} must be inside the data root {root}: the manifest names feature files '
                         f'relative to it (e.g. --out {os.path.join(root, "features")})')
    return dataset_cfg


def cache_features(cfg, out: str, *, modalities: Optional[Sequence[str]] = None, batch_size: Optional[int] = None,
                   num_workers: Optional[int] = None, dtype: str = 'float16', precision: str = 'no',
                   shard: Tuple[int, int] = (0, 1), manifest_only: bool = False) -> dict:
    """Cache the frozen towers' outputs of ``cfg`` into ``out`` (see the module doc); returns a summary.

    Args:
        out: output folder, inside the dataset's data root.
        modalities: towers to cache (default: every frozen pretrained tower).
        batch_size, num_workers: default the config's train loader's.
        dtype: ``'float16'`` (half the disk) or ``'float32'`` (bit-equal to live towers in fp32).
        precision: ``'no'``, ``'bf16'`` or ``'fp16'`` autocast while running the towers.
        shard: ``(index, count)``: cache records ``index, index + count, ...`` only.
        manifest_only: write the manifest (and records) of what is cached, run nothing.
    """
    if dtype not in DTYPES:
        raise ValueError(f'dtype must be one of {DTYPES}, got {dtype!r}')
    import_config_modules(cfg)
    tower_cfgs = cached_towers(cfg, modalities)
    dataset = build_dataset(_dataset_cfg(cfg, tower_cfgs, out))
    towers = {m: ENCODERS.build(c).eval() for m, c in tower_cfgs.items()}
    counts = {m: dict(written=0, kept=0, failed=0) for m in towers}
    start = time.time()
    if not manifest_only:
        device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
        towers = {m: tower.to(device) for m, tower in towers.items()}
        for batch in _loader(cfg, dataset, shard, batch_size, num_workers):
            for m, tower in towers.items():
                _cache_batch(tower, batch, m, out, dtype, precision, device, counts[m])
    for m, tower in towers.items():
        write_record(os.path.join(out, m), _record(tower, tower_cfgs[m], dataset, m, dtype, precision))
    manifest = write_manifest(dataset, out, list(towers))
    logger.info('m5mm: cached %s into %s in %.1f s: %s', sorted(towers), out, time.time() - start, counts)
    return dict(out=os.path.abspath(out), manifest=manifest, counts=counts)


def _loader(cfg, dataset, shard, batch_size, num_workers) -> DataLoader:
    index, count = shard
    if not 0 <= index < count:
        raise ValueError(f'shard must be (index, count) with 0 <= index < count, got {shard}')
    loader_cfg = cfg.train_dataloader
    return DataLoader(Subset(dataset, list(range(index, len(dataset), count))),
                      batch_size=batch_size or loader_cfg.batch_size, shuffle=False,
                      num_workers=loader_cfg.get('num_workers', 0) if num_workers is None else num_workers,
                      collate_fn=dataset.collate)


def _cache_batch(tower, batch: dict, m: str, out: str, dtype: str, precision: str, device, counts: dict) -> None:
    entry, ids = batch[m], batch['meta']['ids']
    paths = [os.path.join(out, m, feature_file(i)) for i in ids]
    todo = [k for k, present in enumerate(entry['present'].tolist()) if present and not os.path.isfile(paths[k])]
    counts['kept'] += sum(1 for k, p in enumerate(entry['present'].tolist()) if p and k not in todo)
    counts['failed'] += sum(1 for errors in batch['meta']['errors'] if m in errors)
    if not todo:
        return
    entry = send_to_device(entry, device)
    enabled = precision in ('bf16', 'fp16')
    autocast_dtype = torch.bfloat16 if precision == 'bf16' else torch.float16
    with torch.no_grad(), torch.autocast(device.type, dtype=autocast_dtype, enabled=enabled):
        feats, feat_mask, _ = tower.backbone_features(entry)
    for k in todo:
        tokens = feats[k, :int(feat_mask[k].sum())].float().cpu().numpy().astype(dtype)
        _save_npy(paths[k], tokens)
        counts['written'] += 1


def _save_npy(path: str, array: np.ndarray) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f'{path}.{os.getpid()}.tmp'
    with open(tmp, 'wb') as handle:
        np.save(handle, array, allow_pickle=False)
    os.replace(tmp, path)


def _record(tower, tower_cfg: dict, dataset, m: str, dtype: str, precision: str) -> dict:
    return dict(modality=m, encoder=tower_cfg, pretrained=tower.pretrained, fingerprint=tower.source.fingerprint,
                model_type=getattr(getattr(tower.backbone, 'config', None), 'model_type', 'timm'),
                feat_dim=int(tower.feat_dim), pipeline=repr(dataset.pipelines[m]), dtype=dtype, precision=precision,
                created=time.strftime('%Y-%m-%dT%H:%M:%S'), m5mm_version=__version__)


def write_manifest(dataset, out: str, modalities: Sequence[str]) -> str:
    """``out/manifest.jsonl``: the dataset's manifest lines with ``<m>_feat`` set to each cached file
    (relative to the data root), or null where none was cached (absent or unreadable media), for
    ``modalities`` and every other modality already cached in ``out`` (it has a record)."""
    cached = [m for m in sorted(os.listdir(out)) if os.path.isfile(os.path.join(out, m, RECORD_NAME))]
    modalities = list(dict.fromkeys([*modalities, *cached]))
    path = os.path.join(out, MANIFEST)
    rel_out = os.path.relpath(os.path.abspath(out), dataset.data_root)
    tmp = f'{path}.{os.getpid()}.tmp'
    with open(dataset.manifest, 'rb') as src, open(tmp, 'w', encoding='utf-8') as dst:
        for line in src:
            dst.write(_with_features(line, out, rel_out, modalities) + '\n')
    os.replace(tmp, path)
    return path


def _with_features(line: bytes, out: str, rel_out: str, modalities: Sequence[str]) -> str:
    text = line.decode('utf-8', errors='replace').rstrip('\n')
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        return text  # the reader reports it, as it does for the source manifest
    if not isinstance(record, dict) or record.get('id') is None:
        return text
    for m in modalities:
        name = feature_file(str(record['id']).strip())
        record[f'{m}_feat'] = f'{rel_out}/{m}/{name}' if os.path.isfile(os.path.join(out, m, name)) else None
    return json.dumps(record, ensure_ascii=False)
