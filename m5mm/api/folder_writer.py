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
    """``{'encoders.text.pretrained': '/local/folder'}`` for every pretrained backbone folder the config names."""
    found: Dict[str, str] = {}
    if isinstance(node, dict):
        for key, value in node.items():
            dotted = f'{prefix}.{key}' if prefix else str(key)
            if key == 'pretrained' and isinstance(value, str) and os.path.isdir(value):
                found[dotted] = value
            else:
                found.update(_pretrained_entries(value, dotted))
    return found


def _export_pretrained(model_cfg: Dict[str, Any], out: Path) -> Tuple[Dict[str, Any], Dict[str, str], list]:
    """Copy pretrained backbone folders into ``out/pretrained/<n>``; the config then names them relatively."""
    from .loading import set_dotted
    model_cfg = json.loads(json.dumps(model_cfg))
    relative, files = {}, []
    for n, (dotted, folder) in enumerate(sorted(_pretrained_entries(model_cfg).items())):
        rel = f'{PRETRAINED_DIR}/{n}'
        files += [f'{rel}/{name}' for name in copy_pretrained(folder, out / rel)]
        set_dotted(model_cfg, dotted, rel)
        relative[dotted] = rel
    return model_cfg, relative, files


def _write_tokenizer(tokenizer, out: Path) -> list:
    if tokenizer is None:
        return []
    if tokenizer.path is not None:
        names = copy_tokenizer(tokenizer.path, out / TOKENIZER_DIR)
    else:
        tokenizer.tokenizer.save_pretrained(str(out / TOKENIZER_DIR))
        names = [p.name for p in (out / TOKENIZER_DIR).iterdir() if p.suffix == '.json']
    return [f'{TOKENIZER_DIR}/{name}' for name in names]


def _fill(encoder, tmp: Path, evaluation: Mapping[str, Any]) -> None:
    from m5mm.engine.weights import save_model_state_dict
    state = {key: value.detach().cpu() for key, value in encoder.model.state_dict().items()}
    save_model_state_dict(state, tmp / WEIGHTS_FILE)
    files = [WEIGHTS_FILE] + _write_tokenizer(encoder.preprocessor.tokenizer, tmp)
    model_cfg, pretrained, pretrained_files = _export_pretrained(encoder.config['model'], tmp)
    files += pretrained_files
    if evaluation:
        (tmp / EVALUATION_FILE).write_text(json.dumps(to_json_data(evaluation, 'evaluation'), indent=1) + '\n',
                                           encoding='utf-8')
        files.append(EVALUATION_FILE)
    config = dict(model=to_json_data(model_cfg, 'model config'),
                  data_meta=to_json_data(encoder.config['data_meta'], 'data meta'),
                  modalities=to_json_data(encoder.preprocessor.modalities, 'modalities'),
                  templates=encoder.config['templates'], feature=encoder.feature,
                  provenance=to_json_data(encoder.config.get('provenance') or {}, 'provenance'),
                  pretrained=pretrained, files=file_hashes(tmp, files))
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
