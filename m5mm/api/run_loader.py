"""Loading a trained model from a training run: checkpoint dir, work dir or weights file + its config."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Union

from torch import nn

from m5mm.checkpoint.manager import META_FILE, resolve_checkpoint
from m5mm.datasets.loaders import build_dataset
from m5mm.datasets.manifest_dataset import DEFAULT_MANIFEST
from m5mm.utils.config import reading_dataset_cfg

from .preprocessor import Preprocessor
from .saved_config import run_config

PathLike = Union[str, Path]


@dataclass
class LoadedRun:
    """What :func:`load_run` builds: the model, its input side and where they came from."""

    model: nn.Module
    preprocessor: Preprocessor
    model_cfg: Dict[str, Any]
    data_meta: Dict[str, Any]
    cfg: Any
    checkpoint: Path
    train_dataset: Any
    provenance: Dict[str, Any]


def _dataset_cfg(loader_cfg) -> dict:
    return reading_dataset_cfg(loader_cfg.dataset)


def train_manifest(dataset) -> Optional[str]:
    """The manifest a run trained on, relative to its data root when inside it (``features/manifest.jsonl`` for a
    run on cached tower features); None for a dataset without one (shards) or the default ``manifest.jsonl``."""
    manifest = getattr(dataset, 'manifest', None)
    if not isinstance(manifest, str):
        return None
    root = os.path.abspath(str(dataset.data_root))
    path = os.path.abspath(manifest)
    relative = os.path.relpath(path, root) if path.startswith(root + os.sep) else path
    return None if relative == DEFAULT_MANIFEST else relative.replace(os.sep, '/')


def load_run(checkpoint: PathLike, *, config: Optional[PathLike] = None,
             cfg_options: Optional[dict] = None) -> LoadedRun:
    """Build a run's model with its checkpoint's weights, and the test dataset's preprocessing.

    Args:
        checkpoint: checkpoint dir, work dir (its latest checkpoint) or weights file.
        config: the training config; a Python file is executed, so only pass one you trust (default:
            the ``config.json`` saved with the checkpoint / in the work dir, read as data, see
            :mod:`m5mm.api.saved_config`; its ``config.py`` is never run).
        cfg_options: ``--cfg-options`` style overrides (e.g. ``{'data_root': DIR}``).
    """
    from m5mm.utils.plugins import import_config_modules
    from m5mm.evaluation.evaluate_checkpoint import build_model_for_eval
    checkpoint = resolve_checkpoint(checkpoint)
    cfg, config = run_config(checkpoint, config=config, cfg_options=cfg_options)
    import_config_modules(cfg)   # installed plugins (+ the custom_imports of a Python config the user named)
    train_dataset = build_dataset(_dataset_cfg(cfg.train_dataloader))
    test_cfg = _dataset_cfg(cfg.test_dataloader)
    test_dataset = build_dataset(test_cfg)
    model = build_model_for_eval(cfg, checkpoint, meta=train_dataset.meta)
    model_cfg = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(cfg.model)
    if model_cfg.get('init_from'):
        model_cfg['init_from'] = None
    meta_path = checkpoint / META_FILE if checkpoint.is_dir() else None
    step = json.loads(meta_path.read_text()).get('step') if meta_path and meta_path.is_file() else None
    provenance = dict(checkpoint=str(checkpoint.resolve()), config=str(Path(config).resolve()), step=step,
                      data_root=str(train_dataset.data_root))
    manifest = train_manifest(train_dataset)
    if manifest is not None:
        provenance['manifest'] = manifest
    return LoadedRun(model=model, preprocessor=Preprocessor.from_dataset(test_dataset, test_cfg.get('modalities')),
                     model_cfg=model_cfg, data_meta=dict(train_dataset.meta), cfg=cfg, checkpoint=checkpoint,
                     train_dataset=train_dataset, provenance=provenance)
