"""The DATA argument of the dataset tools (inspect_dataset, make_shards, build_tokenizer): a data folder or an mmengine
config file, turned into a dataset config."""
from __future__ import annotations

import itertools
import json
import os
from typing import List, Optional, Sequence, Union

SCANNED_LINES = 1000


def parse_split(split: Optional[str]) -> Union[str, List[str], None]:
    """Command-line split: ``train``, ``query,gallery`` or ``all`` (None)."""
    if split is None or split == 'all':
        return None
    parts = [s.strip() for s in split.split(',') if s.strip()]
    return parts[0] if len(parts) == 1 else parts


def manifest_modalities(manifest: str, *, max_lines: int = SCANNED_LINES) -> Optional[List[str]]:
    """The built-in modalities plus every registered modality (plugins included) whose field
    occurs in the first ``max_lines`` records of ``manifest``; None when only built-in ones
    occur (the dataset's default)."""
    from m5mm.registry import MODALITIES
    from m5mm.structures import BUILTIN_MODALITIES
    from m5mm.utils.plugins import load_plugins
    load_plugins()
    MODALITIES.import_from_location()
    keys = set()
    with open(manifest, encoding='utf-8', errors='replace') as handle:
        for line in itertools.islice(handle, max_lines):
            try:
                record = json.loads(line)
            except ValueError:
                continue  # the dataset reports malformed lines itself
            if isinstance(record, dict):
                keys.update(k for k, v in record.items() if v is not None)
    extra = [name for name in MODALITIES.module_dict
             if name in keys and name not in BUILTIN_MODALITIES]
    return list(BUILTIN_MODALITIES) + sorted(extra) if extra else None


def dataset_cfg_from_target(target: str, *, split: Optional[str] = None,
                            modalities: Optional[Sequence[str]] = None, cfg_options: Optional[dict] = None) -> dict:
    """The dataset config for ``target``.

    A folder with ``manifest.jsonl`` gives a ``ManifestDataset``, one with ``meta.json`` an
    ``M5ProductDataset``, one with ``index.json`` a ``ShardedDataset`` (split: all, unless given;
    ``modalities`` names the modalities, default all five with default pipelines, plus plugin
    modalities whose field the manifest has). A config file gives its ``train_dataloader.dataset``
    (``split`` overrides the config's; ``cfg_options`` are the tools' ``--cfg-options``, ``data_root=DIR`` included).
    """
    if os.path.isdir(target):
        if os.path.isfile(os.path.join(target, 'index.json')):
            cfg = dict(type='ShardedDataset', data_root=target)
        elif os.path.isfile(os.path.join(target, 'manifest.jsonl')):
            cfg = dict(type='ManifestDataset', data_root=target)
        elif os.path.isfile(os.path.join(target, 'meta.json')):
            cfg = dict(type='M5ProductDataset', data_root=target)
        else:
            raise FileNotFoundError(f'{target} has neither manifest.jsonl nor meta.json (nor index.json of shards)')
        cfg['split'] = parse_split(split)
        if not modalities and cfg['type'] == 'ManifestDataset':
            modalities = manifest_modalities(os.path.join(target, 'manifest.jsonl'))
        if modalities:
            cfg['modalities'] = {m: None for m in modalities}
        return cfg
    if os.path.isfile(target):
        from m5mm.utils.config import load_config
        loaded = load_config(target, cfg_options)
        if 'train_dataloader' not in loaded or 'dataset' not in loaded.train_dataloader:
            raise KeyError(f'{target} has no train_dataloader.dataset')
        cfg = loaded.train_dataloader.dataset.to_dict()
        if split is not None:
            cfg['split'] = parse_split(split)
        return cfg
    raise FileNotFoundError(f'{target} is neither a data folder nor a config file')
