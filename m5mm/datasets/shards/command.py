"""``tools/make_shards.py``: from a data folder or a config to :func:`build_shards` arguments."""
from __future__ import annotations

import os
from typing import Callable, Optional, Sequence

from m5mm.structures import BUILTIN_MODALITIES
from m5mm.utils.config import reading_dataset_cfg

from ..data_argument import dataset_cfg_from_target
from .build import build_shards

SHARD_OPTION_KEYS = ('shard_size', 'max_shard_mb', 'preprocess')
DEFAULT_SHARD_SIZE = 1000


def shard_options(target: str, cfg_options: Optional[dict]) -> dict:
    """A config's ``shards = dict(shard_size=..., max_shard_mb=..., preprocess=[...])`` ({} for a folder)."""
    if not os.path.isfile(target):
        return {}
    from m5mm.utils.config import load_config
    options = dict(load_config(target, cfg_options).get('shards') or {})
    unknown = set(options) - set(SHARD_OPTION_KEYS)
    if unknown:
        raise ValueError(f'{target}: shards has unknown keys {sorted(unknown)}; known: {", ".join(SHARD_OPTION_KEYS)}')
    return options


def parse_preprocess(value, modalities: Sequence[str]) -> list:
    """``'image,video'`` / a list / ``'all'`` / ``'none'`` -> modality names."""
    if value is None or value == 'none':
        return []
    names = [v.strip() for v in value.split(',')] if isinstance(value, str) else list(value)
    return list(modalities) if names == ['all'] else [n for n in names if n]


def source_cfg(target: str, *, config: Optional[str], modalities: Optional[Sequence[str]],
               cfg_options: Optional[dict]) -> dict:
    """The dataset config of ``target``; with ``config``, that config's ``train_dataloader.dataset`` (its
    modalities and pipelines) reading the data folder ``target``."""
    if config is None:
        return dataset_cfg_from_target(target, modalities=modalities, cfg_options=cfg_options)
    if not os.path.isdir(target):
        raise ValueError(f'--config {config} goes with a data folder as SRC; {target} is not a folder '
                         f'(give a config as SRC without --config)')
    if modalities:
        raise ValueError('--modalities and --config exclude each other: the config names the modalities')
    folder = dataset_cfg_from_target(target)
    cfg = dataset_cfg_from_target(config, cfg_options=cfg_options)
    return dict(cfg, type=folder['type'], data_root=target)


def make_shards(target: str, *, out: str, shard_size: Optional[int] = None, max_shard_mb: Optional[float] = None,
                preprocess=None, workers: int = 1, part: Optional[str] = None,
                modalities: Optional[Sequence[str]] = None, cfg_options: Optional[dict] = None,
                config: Optional[str] = None, log: Callable[[str], None] = print) -> dict:
    """Build shards of every split of ``target`` (a data folder or a config's ``train_dataloader.dataset``);
    arguments left None come from the config's ``shards`` dict, then the defaults.

    ``config`` (with a data folder): take the modalities and pipelines from this training config. Preprocessed
    shards store the output of a config's pipeline steps and train only with a config whose pipelines start
    with the same steps, so preprocessing a data folder requires it.
    """
    if config is None and os.path.isdir(target) and parse_preprocess(preprocess, ['all']):
        raise ValueError(f'--preprocess {preprocess} on the data folder {target} needs the training config: '
                         f'preprocessed shards store the output of its pipeline steps and train only with a config '
                         f'whose pipelines start with the same steps. Add --config CONFIG (the config you will '
                         f'train with, e.g. --config configs/scale_5mod.py), or leave out --preprocess')
    options = shard_options(config or target, cfg_options)
    cfg = source_cfg(target, config=config, modalities=modalities, cfg_options=cfg_options)
    if cfg['type'] == 'ShardedDataset':
        raise ValueError(f'{target} is already a shard folder')
    cfg['data_root'] = os.path.abspath(cfg['data_root'])
    cfg = reading_dataset_cfg(cfg, drop=('split',))
    names = list(cfg.get('modalities') or BUILTIN_MODALITIES)
    steps = parse_preprocess(preprocess if preprocess is not None else options.get('preprocess'), names)
    return build_shards(cfg, out=out, shard_size=shard_size or options.get('shard_size') or DEFAULT_SHARD_SIZE,
                        max_shard_mb=max_shard_mb or options.get('max_shard_mb'), preprocess=steps,
                        workers=workers, part=part, log=log)
