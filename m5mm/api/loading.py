"""What :meth:`ProductEncoder.from_pretrained` loads: a model folder, a training run or a hub id."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional, Set, Union

from .model_folder import (CONFIG_FILE, EVALUATION_FILE, TOKENIZER_DIR, WEIGHTS_FILE, ModelFolderError,
                           is_model_folder, read_config, read_folder_json)
from .preprocessor import Preprocessor, templates_from_json, templates_to_json

PathLike = Union[str, Path]


def set_dotted(cfg: Any, dotted: str, value: Any) -> None:
    """``cfg['a']['b'] = value`` for ``dotted='a.b'`` (the path must exist, KeyError/IndexError otherwise;
    a number indexes a list)."""
    *parents, last = dotted.split('.')
    node = cfg
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, dict) and last not in node:
        raise KeyError(dotted)
    node[int(last) if isinstance(node, list) else last] = value   # a list index out of range: IndexError


def _local_pretrained(cfg: Any, entries: Dict[str, str], root: Path, where: str) -> Any:
    """A copy of ``cfg`` whose ``pretrained`` entries name the folder's own ``pretrained/<n>``; any other
    ``pretrained`` (a path or hub id outside the folder, whose files are not hashed) is refused."""
    cfg = json.loads(json.dumps(cfg))
    allowed: Set[str] = set()
    for dotted, relative in entries.items():
        try:
            set_dotted(cfg, dotted, str(root / relative))
        except (KeyError, IndexError, TypeError, ValueError):
            raise ModelFolderError(f'{root / CONFIG_FILE}: {where}.{dotted} (pretrained) does not exist') from None
        allowed.add(str(root / relative))
    _refuse_outside(cfg, allowed, root, where)
    return cfg


def _refuse_outside(node: Any, allowed: Set[str], root: Path, where: str) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'pretrained' and value is not None and value not in allowed:
                raise ModelFolderError(f'{root / CONFIG_FILE}: {where}.{key} = {value!r} names a model outside the '
                                       f'folder (its files are not listed or hashed); export the model again '
                                       f'with this m5mm, which copies it into pretrained/<n>')
            _refuse_outside(value, allowed, root, f'{where}.{key}')
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _refuse_outside(value, allowed, root, f'{where}[{i}]')


def _load_tokenizer(root: Path, config: Dict[str, Any]):
    """The folder's tokenizer (None when it lists none), checked against the ids the model was trained with."""
    from m5mm.datasets.tokenizer import load_tokenizer
    folder = root / TOKENIZER_DIR
    if not any(name.startswith(f'{TOKENIZER_DIR}/') for name in config['files']):
        return None
    try:
        tokenizer = load_tokenizer(str(folder))
    except Exception as exc:  # noqa: BLE001 - transformers / tokenizers raise many types for a bad file
        raise ModelFolderError(f'{folder}: cannot load the tokenizer ({type(exc).__name__}: '
                               f'{str(exc)[:300]})') from None
    data_meta = config['data_meta'] if isinstance(config['data_meta'], dict) else {}
    expected = data_meta.get('tokenizer')
    if expected is not None and tokenizer.meta() != expected:
        raise ModelFolderError(f'{folder}: the tokenizer gives {tokenizer.meta()}, the model was trained with '
                               f'{expected} ({CONFIG_FILE} data_meta.tokenizer)')
    return tokenizer


def load_folder_parts(root: PathLike) -> Dict[str, Any]:
    """Build model + preprocessor from a model folder (JSON and safetensors only, verified)."""
    from m5mm.models.builders import build_model
    from m5mm.checkpoint.weights import load_model_weights
    from m5mm.utils.plugins import load_plugins
    root = Path(root)
    config = read_config(root)
    model_cfg = _local_pretrained(config['model'], config.get('pretrained') or {}, root, 'model')
    modalities = _local_pretrained(config['modalities'], config.get('pipeline_pretrained') or {}, root,
                                   'modalities')
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
    preprocessor = Preprocessor(modalities=modalities, tokenizer=_load_tokenizer(root, config),
                                templates=templates_from_json(config['templates']))
    evaluation = {}
    if EVALUATION_FILE in config['files']:
        evaluation = read_folder_json(root / EVALUATION_FILE)
        if not isinstance(evaluation, dict):
            raise ModelFolderError(f'{root / EVALUATION_FILE}: expected a JSON object')
    config = dict(config, model=model_cfg, modalities=modalities)   # pretrained: this folder's copies
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
