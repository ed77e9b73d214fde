"""Export a :class:`~m5mm.api.ProductEncoder` to ONNX: one file per tower, one for fusion + joint head.

The folder written (``export_onnx(encoder, out_dir)``)::

    onnx_model.json      format, opset, the torch weights' fingerprint, modalities, every graph's
                         inputs (name, dtype, dynamic axes) and outputs, quantisation, sha256 of each file
    tower_<m>.onnx       modality m's encoder: its batch entry's tensors -> tokens, mask, pooled, present
    fusion.onnx          every tower's outputs (with the presence masks) -> joint, fused.<m>, pooled.<m>

Each file holds its weights (no external data), so that loading reads nothing but the listed files.
"""
from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import torch
from torch import Tensor

from m5mm.utils.files import atomic_write_json, sha256_file
from m5mm.utils.require import require

from .onnx_graphs import (FusionGraph, TowerGraph, entry_tensors, fusion_input_names, fusion_output_names,
                          tower_input_names, tower_output_names)

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]
MANIFEST = 'onnx_model.json'
FORMAT = 'm5mm-onnx/1'
FUSION_FILE = 'fusion.onnx'
QUANTIZE = (None, 'int8')
OPSET = 17


def tower_file(modality: str) -> str:
    """The file name of a modality's tower graph."""
    return f'tower_{modality}.onnx'


def with_absent_row(batch: Mapping[str, Any], modalities: Sequence[str]) -> Dict[str, Dict[str, Tensor]]:
    """The batch entries of ``modalities`` plus one sample at the end that has none of them (data 0,
    masks False, ``present`` False, as the collate writes an absent sample). Tracing follows the
    general code path only when the batch has an absent sample and padding."""
    out = {}
    for m in modalities:
        tensors = entry_tensors(batch[m])
        out[m] = {key: torch.cat([value, torch.zeros_like(value[:1])]) for key, value in tensors.items()}
    return out


def dynamic_axes(modality: str, entry: Mapping[str, Tensor]) -> Dict[str, Dict[int, str]]:
    """Axis 0 of every input is ``batch``; axis 1 is ``<modality>_len`` for every input whose axis 1
    has the length of the entry's (B, N) bool mask (token ids, frames, mel frames and their masks)."""
    lengths = {value.shape[1] for value in entry.values() if value.dim() == 2 and value.dtype == torch.bool}
    axes = {}
    for key, value in entry.items():
        name = f'{modality}.{key}'
        axes[name] = {0: 'batch'}
        if value.dim() >= 2 and value.shape[1] in lengths:
            axes[name][1] = f'{modality}_len'
    return axes


def _export(module: torch.nn.Module, args: tuple, path: Path, *, input_names: List[str], output_names: List[str],
            axes: Dict[str, Dict[int, str]], opset: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')        # tracer warnings about shape checks that stay constant
        torch.onnx.export(module, args, str(path), dynamo=False, input_names=input_names,
                          output_names=output_names, dynamic_axes=axes, opset_version=opset,
                          do_constant_folding=True)


def graph_inputs(path: Path) -> List[str]:
    """The input names an ONNX file kept (tracing drops the inputs the module never reads)."""
    import onnx
    return [i.name for i in onnx.load(str(path), load_external_data=False).graph.input]


def _describe(names: Sequence[str], tensors: Sequence[Tensor], axes: Mapping[str, Mapping[int, str]],
              keep: Optional[Sequence[str]] = None) -> List[dict]:
    """name, dtype and shape (a dynamic axis by its name) of each tensor (those in ``keep`` only)."""
    described = []
    for n, t in zip(names, tensors):
        if keep is None or n in keep:
            shape = [axes.get(n, {}).get(i, int(size)) for i, size in enumerate(t.shape)]
            described.append(dict(name=n, dtype=str(t.dtype).replace('torch.', ''), shape=shape))
    return described


@torch.no_grad()
def export_graphs(backbone: torch.nn.Module, batch: Mapping[str, Any], out_dir: PathLike, *,
                  opset: int = OPSET) -> Dict[str, Any]:
    """Trace every tower and the fusion of ``backbone`` on ``batch`` (a collated batch) into ``out_dir``;
    returns the graph descriptions of the manifest."""
    out_dir = Path(out_dir)
    modalities = list(backbone.modalities)
    entries = with_absent_row(batch, modalities)
    graphs, fusion_args, fusion_axes = {}, [], {}
    for m in modalities:
        keys = list(entries[m])
        tower = TowerGraph(backbone=backbone, modality=m, keys=keys).eval()
        names, axes = tower_input_names(m, keys), dynamic_axes(m, entries[m])
        out_names = tower_output_names(m)
        out_axes = dict(zip(out_names, [{0: 'batch', 1: f'{m}_tokens'}, {0: 'batch', 1: f'{m}_tokens'},
                                        {0: 'batch'}, {0: 'batch'}]))
        args = tuple(entries[m][k] for k in keys)
        _export(tower, args, out_dir / tower_file(m), input_names=names, output_names=out_names,
                axes={**axes, **out_axes}, opset=opset)
        outputs = tower(*args)
        graphs[m] = dict(file=tower_file(m), inputs=_describe(names, args, axes, graph_inputs(out_dir / tower_file(m))),
                         outputs=_describe(out_names, outputs, out_axes))
        fusion_args += list(outputs)
        fusion_axes.update(out_axes)
    fusion = FusionGraph(backbone=backbone).eval()
    names, out_names = fusion_input_names(modalities), fusion_output_names(modalities)
    out_axes = {n: {0: 'batch'} for n in out_names}
    _export(fusion, tuple(fusion_args), out_dir / FUSION_FILE, input_names=names, output_names=out_names,
            axes={**fusion_axes, **out_axes}, opset=opset)
    outputs = fusion(*fusion_args)
    graphs['fusion'] = dict(file=FUSION_FILE, inputs=_describe(names, fusion_args, fusion_axes,
                                                               graph_inputs(out_dir / FUSION_FILE)),
                            outputs=_describe(out_names, outputs, out_axes))
    return graphs


def quantize_int8(path: Path) -> None:
    """Replace the ONNX file at ``path`` by its int8 dynamic quantisation (weights int8, activations
    quantised per batch at run time: onnxruntime's ``quantize_dynamic``, MatMul / Gemm / Attention)."""
    require('onnxruntime', 'onnx')
    from onnxruntime.quantization import QuantType, quantize_dynamic
    with tempfile.TemporaryDirectory(prefix='m5mm-quant-') as tmp:
        target = Path(tmp) / path.name
        quantize_dynamic(str(path), str(target), weight_type=QuantType.QInt8)
        os.replace(target, path)


def write_onnx_folder(backbone: torch.nn.Module, batch: Mapping[str, Any], out_dir: PathLike, *, fingerprint: str,
                      feature: str = 'joint', source: Optional[str] = None, quantize: Optional[str] = None,
                      opset: int = OPSET) -> Path:
    """Trace ``backbone`` (CPU, eval mode) on ``batch`` into ``out_dir``: the graphs, optionally quantised, and
    ``onnx_model.json`` recording ``fingerprint`` (of the weights) and every file's sha256. Parts with token
    packing on are traced on their padded path (equal outputs; traced, packing would fix the example
    batch's token layout in the graph), and switched back on after."""
    require('onnx', 'onnx')
    if quantize not in QUANTIZE:
        raise ValueError(f'quantize must be one of {QUANTIZE}, got {quantize!r}')
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    packed = packed_stacks(backbone)
    try:
        for part in packed:
            part.pack_tokens = False
        graphs = export_graphs(backbone, batch, out_dir, opset=opset)
    finally:
        for part in packed:
            part.pack_tokens = True
    files = [g['file'] for g in graphs.values()]
    if quantize == 'int8':
        for name in files:
            quantize_int8(out_dir / name)
    manifest = dict(format=FORMAT, opset=opset, quantize=quantize, fingerprint=fingerprint, feature=feature,
                    modalities=list(backbone.modalities), graphs=graphs, source=source,
                    files={name: sha256_file(out_dir / name) for name in files})
    atomic_write_json(out_dir / MANIFEST, manifest)
    return out_dir


def packed_stacks(module: Any) -> list:
    """The parts of ``module`` with token packing on (``model.pack_tokens``)."""
    from m5mm.models.layers.token_packing import packable_modules
    return [m for _, m in packable_modules(module) if m.pack_tokens]


def export_onnx(encoder: Any, out_dir: PathLike, *, records: Sequence[Mapping[str, Any]],
                data_root: Optional[str] = None, quantize: Optional[str] = None, opset: int = OPSET) -> Path:
    """Write the ONNX folder of ``encoder`` (a torch :class:`~m5mm.api.ProductEncoder`) to ``out_dir``.

    Args:
        records: a few records (with their media) to trace the graphs on; the shapes they give are
            examples only (batch and sequence axes are dynamic).
        data_root: folder their relative media paths are in.
        quantize: None (float32) or ``'int8'`` (dynamic quantisation of every graph).
    """
    if encoder.backend != 'torch':
        raise ValueError('export_onnx needs the torch ProductEncoder (backend="torch")')
    batch = encoder.collate_records(records, data_root=data_root)
    backbone = encoder.model.backbone.cpu().eval()
    try:
        write_onnx_folder(backbone, batch, out_dir, fingerprint=encoder.fingerprint, feature=encoder.feature,
                          source=encoder.source, quantize=quantize, opset=opset)
    finally:
        encoder.model.to(encoder.device)
    logger.info('m5mm: ONNX export (%s) of %s -> %s', quantize or 'float32', encoder.source, out_dir)
    return Path(out_dir)
