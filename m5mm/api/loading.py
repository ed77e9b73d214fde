"""What :meth:`ProductEncoder.from_pretrained` loads: a model folder, a training run or a hub id."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional, Union

from .model_folder import (CONFIG_FILE, EVALUATION_FILE, TOKENIZER_DIR, WEIGHTS_FILE, ModelFolderError,
                           is_model_folder, read_config)
from .preprocessor import Preprocessor, templates_to_json

PathLike = Union[str, Path]


def set_dotted(cfg: Dict[str, Any], dotted: str, value: Any) -> None:
    """``cfg['a']['b'] = value`` for ``dotted='a.b'`` (the path must exist)."""
    *parents, last = dotted.split('.')
    node = cfg
    for key in parents:
        node = node[key]
    node[last] = value


def load_folder_parts(root: PathLike) -> Dict[str, Any]:
    """Build model + preprocessor from a model folder (JSON and safetensors only, verified)."""
    from m5mm.engine.builder import build_model
    from m5mm.engine.weights import load_model_weights
    from m5mm.utils.plugins import load_plugins
    root = Path(root)
    config = read_config(root)
    model_cfg = json.loads(json.dumps(config['model']))
    for dotted, relative in (config.get('pretrained') or {}).items():
        set_dotted(model_cfg, dotted, str(root / relative))
    load_plugins()   # installed plugin packages only; nothing named by the folder is imported
    try:
        model = build_model(model_cfg, config['data_meta'])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFolderError(f'{root / CONFIG_FILE}: cannot build its model: {exc}') from None
    try:
        load_model_weights(model, root / WEIGHTS_FILE)
    except (KeyError, RuntimeError) as exc:
        raise ModelFolderError(f'{root / WEIGHTS_FILE} does not fit the model that {CONFIG_FILE} describes: '
                               f'{str(exc)[:500]}') from None
    tokenizer_dir = root / TOKENIZER_DIR
    preprocessor = Preprocessor.from_json(config['modalities'], config['templates'],
                                          str(tokenizer_dir) if tokenizer_dir.is_dir() else None)
    evaluation = {}
    if EVALUATION_FILE in config['files']:
        evaluation = json.loads((root / EVALUATION_FILE).read_text(encoding='utf-8'))
    return dict(model=model, preprocessor=preprocessor, config=config, evaluation=evaluation, source=str(root))


def parts_from_run(run) -> Dict[str, Any]:
    """The constructor arguments of a ProductEncoder for a :class:`~m5mm.api.run_loader.LoadedRun`."""
    folder_config = dict(model=run.model_cfg, data_meta=run.data_meta, modalities=run.preprocessor.modalities,
                         templates=templates_to_json(run.preprocessor.templates), feature='joint',
                         provenance=run.provenance)
    return dict(model=run.model, preprocessor=run.preprocessor, config=folder_config,
                source=str(run.checkpoint))


def load_run_parts(path: PathLike, *, config: Optional[PathLike] = None,
                   cfg_options: Optional[dict] = None) -> Dict[str, Any]:
    """Build model + preprocessor from a checkpoint / work dir / weights file and its config."""
    from .run_loader import load_run
    return parts_from_run(load_run(path, config=config, cfg_options=cfg_options))


def load_encoder_parts(path: PathLike, *, config: Optional[PathLike] = None, cfg_options: Optional[dict] = None,
                       revision: Optional[str] = None, cache_dir: Optional[str] = None) -> Dict[str, Any]:
    """The constructor arguments of a ProductEncoder for ``path`` (see ``from_pretrained``)."""
    from .hub import download_model, is_hub_id
    if is_model_folder(path):
        return load_folder_parts(path)
    if Path(path).exists():
        return load_run_parts(path, config=config, cfg_options=cfg_options)
    if is_hub_id(str(path)):
        try:
            folder = download_model(str(path), revision=revision, cache_dir=cache_dir)
        except FileNotFoundError as exc:
            raise FileNotFoundError(f'{path} is not a local path; as a hub id: {exc}') from None
        parts = load_folder_parts(folder)
        return dict(parts, source=str(path))
    raise FileNotFoundError(f'{path} is neither a model folder, a checkpoint, a work dir nor a hub id (org/name)')
