"""Downloading a config's pretrained models once into its ``pretrained_root`` (``tools/fetch_pretrained.py``)."""
from __future__ import annotations

import os
from typing import Dict

from m5mm.utils.pretrained_source import HUB_FILES, PretrainedSourceError


def fetch_pretrained(models: Dict[str, str], root: str) -> Dict[str, str]:
    """Download each hub id of ``models`` (name -> id) into ``root/<name>`` (configs, safetensors weights,
    tokenizer and processor files; never code); returns name -> folder. Folders already complete are kept."""
    from huggingface_hub import snapshot_download
    folders = {}
    for name, repo_id in models.items():
        target = os.path.join(root, name)
        try:
            snapshot_download(repo_id, local_dir=target, allow_patterns=list(HUB_FILES))
        except Exception as exc:  # noqa: BLE001 - network, auth and 404 errors alike
            raise PretrainedSourceError(f'could not download {repo_id!r} (for {name}) into {target}: '
                                        f'{type(exc).__name__}: {str(exc)[:300]}') from None
        folders[name] = target
    return folders
