"""Writing a model folder (see :mod:`m5mm.api.model_folder`) from a loaded :class:`ProductEncoder`."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from .model_card import render_card
from .model_folder import (CARD_FILE, EVALUATION_FILE, PRETRAINED_DIR, TOKENIZER_DIR, WEIGHTS_FILE, copy_pretrained,
                           copy_tokenizer, file_hashes, is_model_folder, to_json_data, write_config)

PathLike = Union[str, Path]


def _pretrained_entries(node: Any, prefix: str = '') -> Dict[str, str]:
    """``{'encoders.text.pretrained': 'folder or hub id'}`` for every ``pretrained`` a config names
    (list items by index: ``'image.pipeline.1.pretrained'``)."""
    found: Dict[str, str] = {}
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        dotted = f'{prefix}.{key}' if prefix else str(key)
        if key == 'pretrained' and isinstance(value, str):
            found[dotted] = value
        else:
            found.update(_pretrained_entries(value, dotted))
    return found


def _export_pretrained(configs: Dict[str, Any], out: Path) -> Tuple[Dict[str, Any], Dict[str, Dict[str, str]], list]:
    """Copy every pretrained model that ``configs`` (``{'model': ..., 'modalities': ...}``) name into
    ``out/pretrained/<n>`` (one copy per folder; a hub id through its local cache); the configs then
    name them relatively: ``({'model': cfg, ...}, {'model': {dotted: 'pretrained/<n>'}, ...}, files)``."""
    from m5mm.utils.pretrained_source import resolve_pretrained

    from .loading import set_dotted
    configs = {part: to_json_data(cfg, part) for part, cfg in configs.items()}
    entries = {(part, dotted): source for part, cfg in configs.items()
               for dotted, source in _pretrained_entries(cfg).items()}
    relative: Dict[str, Dict[str, str]] = {part: {} for part in configs}
    copies: Dict[str, str] = {}
    files: list = []
    for (part, dotted), source in sorted(entries.items()):
        folder = os.path.realpath(resolve_pretrained(source, what=f'{part}.{dotted}'))
        if folder not in copies:
            copies[folder] = f'{PRETRAINED_DIR}/{len(copies)}'
            files += [f'{copies[folder]}/{name}' for name in copy_pretrained(folder, out / copies[folder])]
        set_dotted(configs[part], dotted, copies[folder])
        relative[part][dotted] = copies[folder]
    return configs, relative, files


def _write_tokenizer(tokenizer, out: Path) -> list:
    if tokenizer is None:
        return []
    if tokenizer.path is not None:
        names = copy_tokenizer(tokenizer.path, out / TOKENIZER_DIR)
    else:
        folder = out / TOKENIZER_DIR
        tokenizer.tokenizer.save_pretrained(str(folder))
        for path in list(folder.iterdir()):   # m5mm loads tokenizer.json; a model folder holds JSON only
            if path.suffix != '.json':
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        names = sorted(p.name for p in folder.iterdir())
    return [f'{TOKENIZER_DIR}/{name}' for name in names]


def _fill(encoder, tmp: Path, evaluation: Mapping[str, Any]) -> None:
    from m5mm.checkpoint.weights import save_model_state_dict
    state = {key: value.detach().cpu() for key, value in encoder.model.state_dict().items()}
    save_model_state_dict(state, tmp / WEIGHTS_FILE)
    files = [WEIGHTS_FILE] + _write_tokenizer(encoder.preprocessor.tokenizer, tmp)
    configs, pretrained, pretrained_files = _export_pretrained(
        dict(model=encoder.config['model'], modalities=encoder.preprocessor.modalities), tmp)
    files += pretrained_files
    if evaluation:
        (tmp / EVALUATION_FILE).write_text(json.dumps(to_json_data(evaluation, 'evaluation'), indent=1) + '\n',
                                           encoding='utf-8')
        files.append(EVALUATION_FILE)
    config = dict(model=to_json_data(configs['model'], 'model config'),
                  data_meta=to_json_data(encoder.config['data_meta'], 'data meta'),
                  modalities=to_json_data(configs['modalities'], 'modalities'),
                  templates=encoder.config['templates'], feature=encoder.feature,
                  provenance=to_json_data(encoder.config.get('provenance') or {}, 'provenance'),
                  pretrained=pretrained['model'], pipeline_pretrained=pretrained['modalities'],
                  files=file_hashes(tmp, files))
    write_config(tmp, config)
    (tmp / CARD_FILE).write_text(render_card(config, evaluation, source=encoder.source), encoding='utf-8')


def write_model_folder(encoder, out_dir: PathLike, *, evaluation: Optional[Mapping[str, Any]] = None) -> Path:
    """Write ``encoder`` as a model folder at ``out_dir`` (replaced atomically if it is one already).

    Args:
        evaluation: ``{'results', 'counts', 'robustness', 'data'}`` for the card and
            ``evaluation.json`` (default: what the encoder was loaded with).
    """
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not is_model_folder(out))):
        raise FileExistsError(f'{out} exists and is not an m5mm model folder; choose another --out')
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{out.name}.', dir=out.parent))
    try:
        _fill(encoder, tmp, dict(evaluation if evaluation is not None else encoder.evaluation))
        if out.exists():
            old = out.with_name(f'.{out.name}.old')
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
