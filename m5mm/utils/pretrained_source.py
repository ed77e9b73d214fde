"""Where a pretrained model lives: a local folder, or a Hugging Face hub id in the local cache.

``pretrained='path/to/folder'`` is used as is. ``pretrained='org/name'`` is looked up in the
normal Hugging Face cache (``HF_HOME``); when it is not there and the hub may be reached
(``HF_HUB_OFFLINE`` unset) it is downloaded once (configs, safetensors weights, tokenizer and
processor files; never code). Both the models (towers) and the data pipelines (processors,
tokenizers) resolve through :func:`resolve_pretrained`, so a config names a model once.
"""
from __future__ import annotations

import hashlib
import os
import re
from typing import Dict, Tuple

#: Files fetched for a hub id: configs, weights (safetensors only), tokenizer and processor files.
HUB_FILES = ('*.json', '*.safetensors', '*.txt', '*.model', 'tokenizer*', 'vocab*', 'merges*', 'spiece*',
             '*.tiktoken')
WEIGHT_SUFFIXES = ('.safetensors', '.bin', '.pth', '.pt')
_HEX64 = re.compile(r'^[0-9a-f]{64}$')
_FINGERPRINTS: Dict[Tuple, str] = {}


class PretrainedSourceError(FileNotFoundError):
    """A ``pretrained=`` value that names neither a local folder nor a cached (or reachable) hub model."""


def looks_like_path(source: str) -> bool:
    """Whether ``source`` is written as a path (absolute, ./, ~, or two or more components), not a hub id."""
    return source.startswith(('/', './', '../', '~')) or source.count('/') > 1 or os.sep != '/' and os.sep in source


def resolve_pretrained(source: str, *, what: str = 'pretrained model') -> str:
    """The local folder of ``source`` (a folder, or a hub id resolved through the HF cache).

    Args:
        source: a local folder or a hub id (``'org/name'``).
        what: what the model is for, used in error messages (``'image tower'``).

    Raises:
        PretrainedSourceError: naming ``source`` when it is neither a folder nor available.
    """
    if not isinstance(source, str) or not source.strip():
        raise ValueError(f'{what}: pretrained must be a folder or a hub id, got {source!r}')
    folder = os.path.expanduser(source)
    if os.path.isdir(folder):
        return os.path.abspath(folder)
    if os.path.exists(folder):
        raise PretrainedSourceError(f'{what}: {source!r} is a file; give the model\'s folder')
    if looks_like_path(source):
        raise PretrainedSourceError(f'{what}: pretrained model folder {source!r} does not exist')
    return _from_hub(source, what)


def _from_hub(repo_id: str, what: str) -> str:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError
    try:
        return snapshot_download(repo_id, local_files_only=True, allow_patterns=list(HUB_FILES))
    except HFValidationError:
        raise PretrainedSourceError(f'{what}: {repo_id!r} is neither an existing folder nor a valid '
                                    f'Hugging Face hub id') from None
    except LocalEntryNotFoundError:
        pass
    hint = (f'Download it once where the hub is reachable: `hf download {repo_id}` (or `python '
            f'tools/fetch_pretrained.py CONFIG`), or give the local folder it was saved to.')
    if os.environ.get('HF_HUB_OFFLINE', '').lower() in ('1', 'true', 'yes', 'on'):
        raise PretrainedSourceError(f'{what}: {repo_id!r} is not a local folder and not in the Hugging Face '
                                    f'cache (HF_HUB_OFFLINE is set). {hint}')
    try:
        return snapshot_download(repo_id, allow_patterns=list(HUB_FILES))
    except Exception as exc:  # noqa: BLE001 - network, auth and 404 errors all mean "not available"
        raise PretrainedSourceError(f'{what}: {repo_id!r} is not a local folder, not in the Hugging Face '
                                    f'cache, and could not be downloaded ({type(exc).__name__}: '
                                    f'{str(exc)[:200]}). {hint}') from None


def source_fingerprint(folder: str) -> str:
    """sha256 over ``config.json`` and every weight file of ``folder`` (cached per file size and time).

    Files in the Hugging Face cache are stored under their own sha256 (for weights), which is
    used instead of reading them again.
    """
    names = sorted(n for n in os.listdir(folder) if n == 'config.json' or n.endswith(WEIGHT_SUFFIXES))
    stats = tuple((n, os.stat(os.path.join(folder, n)).st_size, os.stat(os.path.join(folder, n)).st_mtime_ns)
                  for n in names)
    key = (os.path.abspath(folder), stats)
    if key not in _FINGERPRINTS:
        digest = hashlib.sha256()
        for name in names:
            digest.update(name.encode() + b'\0' + _file_digest(os.path.join(folder, name)).encode())
        _FINGERPRINTS[key] = digest.hexdigest()
    return _FINGERPRINTS[key]


def _file_digest(path: str) -> str:
    blob = os.path.basename(os.path.realpath(path))
    if _HEX64.match(blob):  # a hub-cache blob is named by its content's sha256
        return blob
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b''):
            digest.update(chunk)
    return digest.hexdigest()
