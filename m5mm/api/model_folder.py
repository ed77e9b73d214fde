"""The self-contained model folder: JSON + safetensors, checked on load, never executed.

Layout (``save_pretrained`` writes it, ``from_pretrained`` reads it)::

    MODEL_DIR/
      m5mm_model.json     format, m5mm version, model config, data meta, modality pipelines,
                          batch templates, feature kind, provenance, sha256 of every file below
      model.safetensors   the weights (tied / shared tensors stored once)
      tokenizer/          tokenizer.json (+ tokenizer_config.json, special_tokens_map.json)
      pretrained/<n>/     config.json (+ preprocessor_config.json) + *.safetensors of a pretrained
                          backbone the model config or a modality pipeline names
      README.md           the model card (not read when loading)
      evaluation.json     results, modality-robustness table, training data summary

Loading reads JSON and safetensors only: every ``type`` in the configs must be a registered
name (no dotted import paths), every listed file must match its sha256, and the weights must
match the model the config builds; anything else is a :class:`ModelFolderError`. Every file a
loader reads is listed and hashed: ``tokenizer/`` and ``pretrained/<n>/``, whose loaders read
whatever those folders hold, may hold listed files only, and every ``pretrained`` a config names
must be one of the folder's own ``pretrained/<n>``.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path, PurePosixPath
from typing import Any, Dict, Iterable, List, Union

from m5mm.utils.files import read_json
from m5mm.version import __version__

PathLike = Union[str, Path]
CONFIG_FILE = 'm5mm_model.json'
WEIGHTS_FILE = 'model.safetensors'
TOKENIZER_DIR = 'tokenizer'
PRETRAINED_DIR = 'pretrained'
CARD_FILE = 'README.md'
EVALUATION_FILE = 'evaluation.json'
FORMAT, FORMAT_VERSION = 'm5mm-model', 1
TOKENIZER_FILES = ('tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json')
#: what the processors of pipeline steps (``ProcessImage``, ``ProcessAudio``, ...) read besides config.json
PROCESSOR_FILES = ('preprocessor_config.json',)
REQUIRED_KEYS = ('format', 'format_version', 'model', 'data_meta', 'modalities', 'templates', 'feature', 'files')
#: ``pretrained`` entries of the model config / of the modality pipelines: dotted key -> ``pretrained/<n>``
PRETRAINED_KEYS = ('pretrained', 'pipeline_pretrained')
#: the files a hub download may fetch: JSON, safetensors and the card, never code or pickles
SAFE_PATTERNS = [CONFIG_FILE, WEIGHTS_FILE, CARD_FILE, EVALUATION_FILE, f'{TOKENIZER_DIR}/*.json',
                 f'{PRETRAINED_DIR}/*/config.json', f'{PRETRAINED_DIR}/*/preprocessor_config.json',
                 f'{PRETRAINED_DIR}/*/*.safetensors']


class ModelFolderError(ValueError):
    """A model folder that cannot be loaded as written (missing, tampered, mismatched)."""


def read_folder_json(path: PathLike) -> Any:
    """The JSON value of a model-folder file; :class:`ModelFolderError` naming it when it is missing, not
    UTF-8 or not JSON (every JSON read of a model folder goes through here)."""
    return read_json(path, error=ModelFolderError)


def sha256_file(path: PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def is_model_folder(path: PathLike) -> bool:
    """Whether ``path`` is a folder with an ``m5mm_model.json``."""
    return (Path(path) / CONFIG_FILE).is_file()


def check_registered_types(node: Any, where: str) -> None:
    """Refuse any ``type`` that is not a plain registered name (a dotted path would be imported)."""
    if isinstance(node, dict):
        scoped = [key for key in node if key in ('_scope_', 'custom_imports')]
        if scoped:
            raise ModelFolderError(f'{where}: {scoped[0]!r} is not allowed in a model folder (it would import '
                                   f'modules)')
        kind = node.get('type')
        if 'type' in node:
            name = kind[len('m5mm.'):] if isinstance(kind, str) and kind.startswith('m5mm.') else kind
            if not isinstance(name, str) or not name or '.' in name:
                raise ModelFolderError(f'{where}: type {kind!r} is not a registered name; model folders may '
                                       f'only name registered m5mm types')
        for key, value in node.items():
            check_registered_types(value, f'{where}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            check_registered_types(value, f'{where}[{i}]')


def to_json_data(value: Any, where: str) -> Any:
    """``value`` as plain JSON data (tuples become lists), or a ModelFolderError naming the field."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise ModelFolderError(f'{where} cannot be stored as JSON ({exc}); a model folder holds data only') \
            from None


def copy_tokenizer(source_dir: PathLike, out_dir: PathLike) -> List[str]:
    """Copy a tokenizer folder's JSON files; returns the names copied."""
    source_dir, out_dir = Path(source_dir), Path(out_dir)
    if not (source_dir / 'tokenizer.json').is_file():
        raise ModelFolderError(f'no tokenizer.json in {source_dir}')
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [name for name in TOKENIZER_FILES if (source_dir / name).is_file()]
    for name in names:
        shutil.copyfile(source_dir / name, out_dir / name)
    return names


def copy_pretrained(source_dir: PathLike, out_dir: PathLike) -> List[str]:
    """Copy a pretrained backbone folder's ``config.json``, processor config and safetensors weights."""
    source_dir, out_dir = Path(source_dir), Path(out_dir)
    weights = sorted(p.name for p in source_dir.glob('*.safetensors'))
    if not (source_dir / 'config.json').is_file() or not weights:
        raise ModelFolderError(f'pretrained folder {source_dir} needs config.json and *.safetensors weights to be '
                               f'exported (convert its weights to safetensors first)')
    out_dir.mkdir(parents=True, exist_ok=True)
    names = ['config.json'] + [name for name in PROCESSOR_FILES if (source_dir / name).is_file()] + weights
    for name in names:
        shutil.copyfile(source_dir / name, out_dir / name)
    return names


def file_hashes(root: PathLike, names: Iterable[str]) -> Dict[str, str]:
    """``{relative name: sha256}`` of files under ``root``."""
    return {name: sha256_file(Path(root) / name) for name in sorted(names)}


def write_config(root: PathLike, config: Dict[str, Any]) -> Path:
    """Write ``m5mm_model.json`` (format fields added)."""
    data = dict(format=FORMAT, format_version=FORMAT_VERSION, m5mm_version=__version__, **config)
    path = Path(root) / CONFIG_FILE
    path.write_text(json.dumps(data, indent=1, sort_keys=False) + '\n', encoding='utf-8')
    return path


def read_config(root: PathLike) -> Dict[str, Any]:
    """Read and verify ``m5mm_model.json`` and the files it lists (sha256)."""
    root = Path(root)
    path = root / CONFIG_FILE
    if not path.is_file():
        raise ModelFolderError(f'{root} is not an m5mm model folder (no {CONFIG_FILE}); make one with '
                               f'tools/export_model.py or ProductEncoder.save_pretrained')
    config = read_folder_json(path)
    if not isinstance(config, dict) or config.get('format') != FORMAT:
        raise ModelFolderError(f'{path} is not an m5mm model config (format {FORMAT!r} expected)')
    missing = [key for key in REQUIRED_KEYS if key not in config]
    if missing:
        raise ModelFolderError(f'{path} lacks {missing}')
    if config['format_version'] != FORMAT_VERSION:
        raise ModelFolderError(f'{path} has format version {config["format_version"]}; this m5mm reads version '
                               f'{FORMAT_VERSION} (upgrade m5mm)')
    for key in ('files',) + PRETRAINED_KEYS:
        value = config.get(key) or {}
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise ModelFolderError(f'{path}: {key!r} must map names to strings')
    check_registered_types(config['model'], 'model')
    check_registered_types(config['modalities'], 'modalities')
    verify_files(root, config['files'])
    check_read_folders(root, config)
    return config


def _check_inside(root: Path, name: str, what: str) -> None:
    """``name`` is a plain relative path (no ``..``, not absolute): lexically inside the folder. (Lexical,
    because a Hugging Face cache snapshot links its files to blobs elsewhere; their bytes are hashed.)"""
    if not name or name.startswith('/') or '\\' in name or any(p in ('..', '.', '') for p in name.split('/')):
        raise ModelFolderError(f'{root / CONFIG_FILE} lists {what} {name!r}, which is outside the folder')


def verify_files(root: Path, files: Dict[str, str]) -> None:
    """Every listed file exists inside ``root`` and has its recorded sha256; listed JSON files parse."""
    if WEIGHTS_FILE not in files:
        raise ModelFolderError(f'{root / CONFIG_FILE} lists no {WEIGHTS_FILE}')
    for name, digest in files.items():
        _check_inside(root, name, 'file')
        path = root / name
        if not path.is_file():
            raise ModelFolderError(f'{root} is incomplete: {name} is missing')
        if sha256_file(path) != digest:
            raise ModelFolderError(f'{root / name} does not match the sha256 recorded in {CONFIG_FILE}: the '
                                   f'folder was modified or damaged after export')
        if name.endswith('.json'):
            read_folder_json(path)


def check_read_folders(root: Path, config: Dict[str, Any]) -> None:
    """``tokenizer/`` and each ``pretrained/<n>/`` the config names hold listed files only: their loaders
    (transformers, timm) read whatever such a folder holds (``special_tokens_map.json``,
    ``added_tokens.json``, chat templates, other weight files), so an unlisted file there is refused."""
    folders = {TOKENIZER_DIR}
    for key in PRETRAINED_KEYS:
        for relative in (config.get(key) or {}).values():
            _check_inside(root, relative, 'pretrained folder')
            parts = PurePosixPath(relative).parts
            if len(parts) != 2 or parts[0] != PRETRAINED_DIR or not (root / relative).is_dir():
                raise ModelFolderError(f'{root / CONFIG_FILE}: pretrained folder {relative!r} is not a folder '
                                       f'under {PRETRAINED_DIR}/')
            folders.add(relative)
    listed = set(config['files'])
    for folder in sorted(folders):
        paths = sorted((root / folder).rglob('*')) if (root / folder).is_dir() else []
        unlisted = [p.relative_to(root).as_posix() for p in paths
                    if not p.is_dir() and p.relative_to(root).as_posix() not in listed]
        if unlisted:
            more = f' (nor are {len(unlisted) - 1} more files in {folder}/)' if len(unlisted) > 1 else ''
            raise ModelFolderError(f'{root / unlisted[0]} is not listed in {CONFIG_FILE}{more}: files there are '
                                   f'read when loading, so only listed, hashed files may be there; remove it or '
                                   f'export the model again')
        if folder != TOKENIZER_DIR and not any(name.startswith(f'{folder}/') for name in listed):
            raise ModelFolderError(f'{root / CONFIG_FILE} names pretrained folder {folder}/, which holds no file '
                                   f'it lists')
