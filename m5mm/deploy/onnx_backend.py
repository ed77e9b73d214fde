"""``ProductEncoder.from_pretrained(PATH, backend='onnx')``: the model folder's preprocessing, the ONNX graphs."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

from .onnx_backbone import OnnxBackbone
from .onnx_folder import OnnxFolderError


def onnx_parts(parts: Dict[str, Any], onnx_dir: Path, *, threads: Optional[int] = None) -> Dict[str, Any]:
    """The ProductEncoder arguments ``parts`` (of the torch model) with the model replaced by the ONNX
    graphs in ``onnx_dir``; refused when they were exported from other weights."""
    runner = OnnxBackbone(onnx_dir, threads=threads)
    from m5mm.api.product_encoder import weights_fingerprint
    expected = weights_fingerprint(parts['model'])
    if runner.fingerprint != expected:
        raise OnnxFolderError(f'{onnx_dir}: exported from other weights (fingerprint {runner.fingerprint[:12]}, '
                              f'the model folder has {expected[:12]}); export it again with tools/export_onnx.py')
    if list(runner.modalities) != list(parts['model'].modalities):
        raise OnnxFolderError(f'{onnx_dir}: graphs for {runner.modalities}, the model has {parts["model"].modalities}')
    return dict(parts, model=runner, backend='onnx')
