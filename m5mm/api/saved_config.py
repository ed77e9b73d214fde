"""The config of a training run, read from its ``config.json`` as data: never executed.

A checkpoint holds its resolved config twice: ``config.py`` (for people) and ``config.json``; a
work dir may hold both at its root too. Whatever loads a run without being given a config
(:func:`m5mm.api.run_loader.load_run`, so ``ProductEncoder.from_pretrained``, ``tools/export_model.py``,
``tools/serve.py``, ``tools/build_index.py``; ``tools/convert_checkpoint.py --merge-lora``) builds
from ``config.json``, checked as a model folder's config is
(:func:`m5mm.api.model_folder.check_registered_types`: registered names only, no ``custom_imports``,
no ``_scope_``, no dotted import paths) and, in a checkpoint, against the size and sha256 that
``meta.json`` recorded. A run's ``config.py`` is executed only when the user names it
(``config=`` / ``--config`` / a tool's ``CONFIG`` argument).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

from mmengine.config import Config

from m5mm.checkpoint.integrity import verify_in_checkpoint
from m5mm.checkpoint.manager import CONFIG_JSON, checkpoint_work_dir
from m5mm.checkpoint.safe_load import CheckpointError, read_json
from m5mm.utils.config import apply_cfg_options, load_config

from .model_folder import check_registered_types

PathLike = Union[str, Path]
PYTHON_CONFIG = 'config.py'


def find_saved_config(checkpoint: PathLike) -> Path:
    """The ``config.json`` a run was trained with: ``CKPT/config.json``, else ``WORK_DIR/config.json``.

    Raises:
        FileNotFoundError: there is none (its ``config.py`` is never run in its place).
    """
    path = Path(checkpoint)
    folders = [path.resolve()] if path.is_dir() else []
    folders += [folder for folder in [checkpoint_work_dir(path)] if folder not in folders]
    for folder in folders:
        if (folder / CONFIG_JSON).is_file():
            return folder / CONFIG_JSON
    python = [str(folder / PYTHON_CONFIG) for folder in folders if (folder / PYTHON_CONFIG).is_file()]
    found = f'; there is {python[0]}, which m5mm does not run unless you name it' if python else ''
    raise FileNotFoundError(f'no {CONFIG_JSON} next to {path} (looked in {", ".join(map(str, folders))}){found}. '
                            f'Give the training config explicitly (config= / --config) if you trust it')


def read_saved_config(path: PathLike, cfg_options: Optional[Dict[str, Any]] = None) -> Config:
    """Build a :class:`Config` from a run's ``config.json`` (data only), then apply ``cfg_options``.

    Raises:
        CheckpointError: the file is damaged (size / sha256 in ``meta.json``), not an m5mm run's config,
            or names something other than registered types (it would import modules).
    """
    path = Path(path)
    verify_in_checkpoint(path)
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get('model'), dict):
        raise CheckpointError(f'{path}: not the config of an m5mm run (no model section)')
    try:
        check_registered_types(data, 'config', what="a run's saved config.json", error=CheckpointError)
    except CheckpointError as exc:
        raise CheckpointError(f'{path}: {exc}. m5mm builds a saved config from registered names only; to load '
                              f'this run anyway, give the training config you trust explicitly (config= / '
                              f'--config)') from None
    return apply_cfg_options(Config(data), cfg_options, source=str(path))


def run_config(checkpoint: PathLike, *, config: Optional[PathLike] = None,
               cfg_options: Optional[Dict[str, Any]] = None) -> Tuple[Config, Path]:
    """The config of a run and the file it came from.

    Args:
        checkpoint: checkpoint dir, work dir or weights file.
        config: a config the user names: a Python file is executed, a ``.json`` read as data
            (default: the run's :func:`find_saved_config`).
    """
    if config is not None:
        return load_config_file(config, cfg_options), Path(config)
    path = find_saved_config(checkpoint)
    return read_saved_config(path, cfg_options), path


def load_config_file(path: PathLike, cfg_options: Optional[Dict[str, Any]] = None) -> Config:
    """A config the user named: a run's ``config.json`` (read as data, :func:`read_saved_config`) or a
    Python config file (executed, :func:`m5mm.utils.config.load_config`)."""
    if Path(path).suffix == '.json':
        return read_saved_config(path, cfg_options)
    return load_config(str(path), cfg_options)
