"""Read an ONNX folder written by :func:`~m5mm.deploy.onnx_export.export_onnx` as data only.

Before onnxruntime sees a file: the manifest is JSON with the expected keys, each graph file is one
the manifest lists (a name inside the folder) with its sha256, and the parsed graph has no external
data (a tensor whose bytes live in another file, the path traversal route of ONNX) and only
operators of the standard and onnxruntime domains (no custom-op library is ever registered).
onnxruntime is then given the verified bytes, not the path.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Dict, Union

from m5mm.utils.files import read_json
from m5mm.utils.require import require

from .onnx_export import FORMAT, MANIFEST

PathLike = Union[str, Path]
#: operator domains a graph may use: ONNX's own and onnxruntime's contrib ops (quantised MatMul)
ALLOWED_DOMAINS = ('', 'ai.onnx', 'com.microsoft')
_KEYS = ('format', 'fingerprint', 'modalities', 'graphs', 'files', 'quantize')


class OnnxFolderError(ValueError):
    """An ONNX folder that is missing, modified or not m5mm's (the message names the file)."""


def read_manifest(root: PathLike) -> Dict[str, Any]:
    """``onnx_model.json`` of ``root``, checked for its keys and format."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise OnnxFolderError(f'{root} is not an m5mm ONNX export (no {MANIFEST}); write one with '
                              f'tools/export_onnx.py MODEL_DIR --out {root}')
    manifest = read_json(path, error=OnnxFolderError)
    if not isinstance(manifest, dict) or any(k not in manifest for k in _KEYS):
        raise OnnxFolderError(f'{path}: expected a JSON object with {", ".join(_KEYS)}')
    if manifest['format'] != FORMAT:
        raise OnnxFolderError(f'{path}: format {manifest["format"]!r}, this m5mm reads {FORMAT!r}')
    graphs = manifest['graphs']
    if not isinstance(graphs, dict) or set(graphs) != set(manifest['modalities']) | {'fusion'}:
        raise OnnxFolderError(f'{path}: graphs must be one per modality and "fusion"')
    for name, graph in graphs.items():
        if not isinstance(graph, dict) or graph.get('file') not in manifest['files']:
            raise OnnxFolderError(f'{path}: graph {name!r} names a file the manifest does not list')
    return manifest


def read_graph_bytes(root: PathLike, name: str, digest: str) -> bytes:
    """The bytes of listed file ``name`` after checking its place, sha256, external data and operators."""
    onnx = require('onnx', 'onnx')
    root = Path(root).resolve()
    path = (root / name).resolve()
    if path.parent != root or not path.is_file():
        raise OnnxFolderError(f'{root / MANIFEST}: {name!r} is not a file inside the folder')
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != digest:
        raise OnnxFolderError(f'{path}: sha256 differs from {MANIFEST} (modified or replaced)')
    try:
        model = onnx.load_from_string(data)
    except Exception as exc:  # noqa: BLE001 - protobuf raises its own DecodeError types
        raise OnnxFolderError(f'{path}: not an ONNX model ({type(exc).__name__})') from None
    _check_graph(model, path)
    return data


def _check_graph(model: Any, path: Path) -> None:
    from onnx.external_data_helper import uses_external_data
    tensors = list(model.graph.initializer)
    for node in model.graph.node:
        tensors += [attr.t for attr in node.attribute if attr.HasField('t')]
    if any(uses_external_data(t) for t in tensors):
        raise OnnxFolderError(f'{path}: refers to external data files; m5mm exports hold their weights inline')
    domains = {node.domain for node in model.graph.node} | {op.domain for op in model.opset_import}
    unknown = sorted(domains - set(ALLOWED_DOMAINS))
    if unknown or len(model.functions):
        raise OnnxFolderError(f'{path}: uses operator domains {unknown} or local functions; allowed: '
                              f'{ALLOWED_DOMAINS}')
