"""Model folders on the Hugging Face Hub, through ``huggingface_hub`` (its cache, token and offline mode).

Only the files a model folder consists of are downloaded or uploaded (JSON, safetensors, the card;
:data:`~m5mm.api.model_folder.SAFE_PATTERNS`): a repository's code or pickles are never fetched.
``HF_HUB_OFFLINE=1`` (or ``local_files_only=True``) resolves ids from the local cache only.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Optional, Union

from m5mm.utils.require import require

from .model_folder import SAFE_PATTERNS, is_model_folder

_HUB_ID = re.compile(r'^[A-Za-z0-9][\w.-]*/[\w.-]+$')


def is_hub_id(name: str) -> bool:
    """Whether ``name`` looks like ``org/name`` (and is not a local path)."""
    return bool(_HUB_ID.match(name)) and '..' not in name and not os.path.exists(name)


def download_model(repo_id: str, *, revision: Optional[str] = None, cache_dir: Optional[str] = None,
                   local_files_only: Optional[bool] = None) -> str:
    """The local folder of a hub model (downloaded into the cache unless already there)."""
    hub = require('huggingface_hub', 'hub')
    try:
        folder = hub.snapshot_download(repo_id, revision=revision, cache_dir=cache_dir,
                                       allow_patterns=SAFE_PATTERNS, local_files_only=bool(local_files_only))
    except Exception as exc:  # huggingface_hub raises many types (offline, missing repo, auth, network)
        raise FileNotFoundError(f'cannot get model {repo_id!r} from the Hugging Face Hub or its cache '
                                f'({type(exc).__name__}: {exc})') from None
    if not is_model_folder(folder):
        raise FileNotFoundError(f'hub repository {repo_id!r} is not an m5mm model folder (no m5mm_model.json)')
    return folder


def push_folder_to_hub(folder: Union[str, Path], repo_id: str, *, token: Optional[str] = None,
                       private: bool = False, commit_message: str = 'Upload m5mm model', api: Any = None) -> str:
    """Upload a model folder's files to ``repo_id`` (created if needed); returns the commit URL.

    Args:
        api: an ``huggingface_hub.HfApi`` (default: one with ``token``).
    """
    if not is_model_folder(folder):
        raise FileNotFoundError(f'{folder} is not an m5mm model folder')
    if api is None:
        api = require('huggingface_hub', 'hub').HfApi(token=token)
    api.create_repo(repo_id, repo_type='model', private=private, exist_ok=True)
    info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type='model',
                             allow_patterns=SAFE_PATTERNS, commit_message=commit_message)
    return str(getattr(info, 'commit_url', info))
