"""Loading configs: ``_base_`` inheritance (mmengine; ``m5mm::NAME`` names an m5mm config), ``--cfg-options``,
data-root retargeting, key checks."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, Mapping, Optional, Sequence, Tuple

from mmengine.config import Config

from m5mm.utils import config_packages
from m5mm.utils.build import closest_names

config_packages.install()   # _base_ = ['m5mm::scale_5mod_tiny.py'] in plugin configs

#: Top-level keys the m5mm tools read. Other names are allowed (helper variables such as
#: ``data_root``); one that is a near-miss of a known key is reported as a typo.
KNOWN_KEYS = frozenset({
    'default_scope', 'custom_imports', 'work_dir', 'seed', 'deterministic', 'precision', 'model',
    'train_dataloader', 'val_dataloader', 'test_dataloader', 'optim', 'scheduler', 'train_cfg', 'hooks',
    'default_hooks', 'custom_hooks', 'log_with', 'tracker_cfg', 'data_root',
    'load_from', 'on_bad_line', 'shards', 'pretrained_root', 'pretrained_models', 'feature_dir',
})
#: Keys of a ``*_dataloader`` section (``drop_last`` only where the trainer reads it).
LOADER_KEYS = ('batch_size', 'num_workers', 'persistent_workers', 'drop_last', 'length_buckets', 'dataset',
               'batch_sampler', 'token_budget')
_EVAL_LOADER_KEYS = tuple(k for k in LOADER_KEYS
                          if k not in ('drop_last', 'length_buckets', 'batch_sampler', 'token_budget'))
#: The keys of each section read by the trainer and the tools (anything else is an error).
SECTION_KEYS = {
    'train_cfg': ('max_epochs',),
    'optim': ('optimizer', 'pretrained_lr_mult', 'decay_norm_and_bias', 'clip_grad_norm', 'accumulation_steps',
              'contrastive_accumulation'),
    'train_dataloader': LOADER_KEYS,
    'val_dataloader': _EVAL_LOADER_KEYS,
    'test_dataloader': _EVAL_LOADER_KEYS,
    'custom_imports': ('imports', 'allow_failed_imports'),
    'tracker_cfg': ('project_name', 'init_kwargs'),
}
#: Set only in a config file, never by an override: names modules to import.
FILE_ONLY_KEYS = ('custom_imports',)

#: Keys of the map-style readers that a shard folder does not take (they applied when it was built).
READER_ONLY_KEYS = ('manifest', 'generate_if_missing', 'meta_file', 'folders', 'on_bad_line')


class ConfigError(ValueError):
    """A config that cannot be used as written."""


def check_top_level_keys(cfg: Config, known: Iterable[str] = KNOWN_KEYS) -> None:
    """Raise :class:`ConfigError` for a top-level key that looks like a misspelt known key."""
    known = set(known)
    for key in cfg.keys():
        if key in known or key.startswith('_'):
            continue
        close = closest_names(key, known, n=1)
        if close and _is_typo(key, close[0]):
            raise ConfigError(f'Unknown config key {key!r}: did you mean {close[0]!r}? '
                              f'Known keys: {", ".join(sorted(known))}.')


def check_sections(cfg: Config, sections: Mapping[str, Sequence[str]] = SECTION_KEYS) -> None:
    """Raise :class:`ConfigError` for a key of a section (``train_cfg``, ``optim``, the dataloaders ...)
    that nothing reads, naming the closest known key."""
    for section, known in sections.items():
        value = cfg.get(section)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise ConfigError(f'{section} must be a dict, got {type(value).__name__}')
        for key in value:
            if key not in known:
                close = closest_names(str(key), known, n=1)
                hint = f' Did you mean {close[0]!r}?' if close else ''
                raise ConfigError(f'Unknown key {section}.{key}.{hint} Keys of {section}: {", ".join(known)}.')


def check_config(cfg: Config) -> None:
    """Top-level typos and unknown keys of the sections the trainer reads (see :data:`SECTION_KEYS`)."""
    check_top_level_keys(cfg)
    check_sections(cfg)


def _is_typo(key: str, candidate: str) -> bool:
    import difflib
    return difflib.SequenceMatcher(None, key.lower(), candidate.lower()).ratio() >= 0.8


def iter_dataset_cfgs(node: Any):
    """Yield every dict in ``node`` that configures a dataset (has ``type`` and ``data_root``)."""
    if isinstance(node, dict):
        if 'type' in node and 'data_root' in node:
            yield node
        for value in node.values():
            yield from iter_dataset_cfgs(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from iter_dataset_cfgs(value)


def reading_dataset_cfg(dataset_cfg: Mapping[str, Any], *, drop: Sequence[str] = ()) -> Dict[str, Any]:
    """A copy of ``dataset_cfg`` that reads the data already there: without ``generate_if_missing`` (evaluating,
    exporting or loading a run never writes a catalogue) and without the keys in ``drop``."""
    import copy
    cfg = copy.deepcopy(dict(dataset_cfg))
    for key in ('generate_if_missing', *drop):
        cfg.pop(key, None)
    return cfg


def retarget_data_root(cfg: Config, data_root: str) -> int:
    """Point every dataset of ``cfg`` at ``data_root``; returns how many were changed.

    A dataset's ``manifest`` is reset to None so it defaults to ``DATA_ROOT/manifest.jsonl``,
    unless it is a path inside the data root (relative, not under the old root's path, e.g. the
    ``features/manifest.jsonl`` of a feature cache), which then names the file in the new root; a
    demo-generation option is dropped: the user's directory is never overwritten. A shard folder
    (with ``index.json``) turns every dataset into a ``ShardedDataset`` of that folder.
    """
    from m5mm.datasets.shards.layout import is_shard_folder
    shards = is_shard_folder(data_root)
    count = 0
    for dataset_cfg in iter_dataset_cfgs(cfg._cfg_dict):
        old_root = str(dataset_cfg['data_root']).rstrip('/')
        dataset_cfg['data_root'] = data_root
        if shards:
            dataset_cfg['type'] = 'ShardedDataset'
            for key in READER_ONLY_KEYS:
                dataset_cfg.pop(key, None)
            count += 1
            continue
        manifest = dataset_cfg.get('manifest')
        if manifest is not None and (Path(str(manifest)).is_absolute() or str(manifest).startswith(old_root + '/')):
            dataset_cfg['manifest'] = None
        if dataset_cfg.get('generate_if_missing') is not None:   # None (not dropped): it overrides a base config
            dataset_cfg['generate_if_missing'] = None
        count += 1
    cfg['data_root'] = data_root
    return count


def _retarget_strings(node: Any, old: str, new: str) -> Tuple[Any, int]:
    """``node`` with every string that is ``old`` or starts with ``old/`` moved under ``new``; and how many."""
    if isinstance(node, str):
        if node == old or node.startswith(old + '/'):
            return new + node[len(old):], 1
        return node, 0
    if isinstance(node, dict):
        count = 0
        for key in list(node):
            node[key], n = _retarget_strings(node[key], old, new)
            count += n
        return node, count
    if isinstance(node, (list, tuple)):
        items = [_retarget_strings(v, old, new) for v in node]
        return type(node)(v for v, _ in items), sum(n for _, n in items)
    return node, 0


def retarget_pretrained_root(cfg: Config, pretrained_root: str) -> int:
    """Point every pretrained model of ``cfg`` (the ``pretrained=`` of towers and pipelines, tokenizer
    paths: every string under the config's ``pretrained_root``) at ``pretrained_root``; returns how many."""
    old = cfg.get('pretrained_root')
    if not old:
        raise ConfigError(f'pretrained_root={pretrained_root} given, but the config sets no top-level pretrained_root '
                          f'whose models it could move')
    old = str(old).rstrip('/')
    count = 0
    for key in list(cfg._cfg_dict.keys()):
        if key != 'pretrained_root':
            value, n = _retarget_strings(cfg._cfg_dict[key], old, str(pretrained_root).rstrip('/'))
            cfg._cfg_dict[key] = value
            count += n
    cfg['pretrained_root'] = str(pretrained_root)
    return count


def apply_on_bad_line(cfg: Config) -> int:
    """Set the top-level ``on_bad_line`` (``'error'``/``'skip'``) on every dataset of ``cfg`` that reads
    a manifest or meta file."""
    value = cfg.get('on_bad_line')
    if value is None:
        return 0
    if value not in ('error', 'skip'):
        raise ConfigError(f"on_bad_line must be 'error' or 'skip', got {value!r}")
    count = 0
    for dataset_cfg in iter_dataset_cfgs(cfg._cfg_dict):
        if _accepts(dataset_cfg.get('type'), 'on_bad_line'):   # (a shard folder was checked when built)
            dataset_cfg['on_bad_line'] = value
            count += 1
    return count


def _accepts(type_name: Any, argument: str) -> bool:
    import inspect

    from m5mm.registry import DATASETS
    from m5mm.utils.build import find_registered
    cls = find_registered(DATASETS, type_name) if isinstance(type_name, str) else type_name
    return cls is not None and argument in inspect.signature(cls.__init__).parameters


def load_config(path: str, cfg_options: Optional[Dict[str, Any]] = None) -> Config:
    """Load a Python config file (executed: only ever one the user named), apply ``--cfg-options``
    (:func:`apply_cfg_options`) and check its keys."""
    if not Path(path).is_file():
        raise ConfigError(f'Config file not found: {path}')
    return apply_cfg_options(Config.fromfile(path), cfg_options, source=path)


def _python_values(options: Dict[str, Any]) -> Iterator[Tuple[str, str]]:
    """The ``(key, value)`` of options whose value (or list item) is Python text such as ``dict(type=X)``: the
    command line's ``dict(...)`` arrives parsed (:mod:`m5mm.utils.cfg_options`), so this is a Python caller's string."""
    for key, value in options.items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, str) and re.match(r'\s*dict\s*\(', item):
                yield key, item


def check_cfg_options(options: Dict[str, Any]) -> None:
    """Refuse ``--cfg-options`` that set ``custom_imports`` or hold Python text (never evaluated)."""
    refused = [k for k in options if k.split('.')[0] in FILE_ONLY_KEYS]
    if refused:
        raise ConfigError(f'{refused[0]} cannot be set with --cfg-options (it imports modules); set it in a '
                          f'config file')
    for key, item in _python_values(options):
        if key.split('.')[0] in ('hooks', 'custom_hooks', 'default_hooks'):
            hint = ('add hooks in a config file (custom_hooks = [dict(type=...)] below _base_ = [YOUR_CONFIG]), '
                    'or change a setting of a default hook with default_hooks.NAME.KEY=VALUE')
        else:
            hint = (f'set its entries one by one ({key}.KEY=VALUE), or write it in a config file that inherits '
                    f'yours (_base_ = [YOUR_CONFIG])')
        raise ConfigError(f'--cfg-options {key}: {item!r} is Python, which --cfg-options does not evaluate (values '
                          f'are numbers, strings, [lists] and dict(k=v, ...), read as data on the command line; '
                          f'from Python pass a dict); {hint}')


def apply_cfg_options(cfg: Config, cfg_options: Optional[Dict[str, Any]] = None, *, source: str = 'the config'
                      ) -> Config:
    """Apply ``--cfg-options`` to a loaded config and check its keys; returns ``cfg``.

    ``data_root=DIR`` among the options retargets every dataset in the config to DIR;
    ``pretrained_root=DIR`` every pretrained model under the config's ``pretrained_root``; a top-level
    ``on_bad_line`` (in the file or the options) applies to every dataset. ``custom_imports`` may
    only be set in a config file.

    Args:
        source: the config's file, for messages.
    """
    options = dict(cfg_options or {})
    check_cfg_options(options)
    data_root = options.pop('data_root', None)
    pretrained_root = options.pop('pretrained_root', None)
    if options:
        cfg.merge_from_dict(options)
    if pretrained_root is not None and retarget_pretrained_root(cfg, str(pretrained_root)) == 0:
        raise ConfigError(f'pretrained_root={pretrained_root} given, but no model of {source} is under its '
                          f'pretrained_root {cfg.get("pretrained_root")!r}')
    if data_root is not None:
        if retarget_data_root(cfg, str(data_root)) == 0:
            raise ConfigError(f'data_root={data_root} given, but the config {source} has no dataset to retarget')
    apply_on_bad_line(cfg)
    check_config(cfg)
    return cfg
