"""An onnxruntime stand-in for a model's ``extract_features(batch)``: towers, then fusion + joint head."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Union

import numpy as np
import torch
from torch import Tensor

from m5mm.utils.require import require

from .onnx_folder import OnnxFolderError, read_graph_bytes, read_manifest
from .onnx_graphs import TOWER_OUTPUTS, fusion_input_names, fusion_output_names

PathLike = Union[str, Path]
_NUMPY = {'float32': np.float32, 'float16': np.float16, 'int64': np.int64, 'int32': np.int32, 'bool': np.bool_,
          'uint8': np.uint8}


class OnnxBackbone:
    """The exported graphs of a model, run by onnxruntime on CPU.

    ``extract_features(batch)`` takes the collated batch of the model's pipelines and returns what the
    torch model's does (``joint``, ``fused``, ``pooled``, ``present``), so every caller of a model's
    features (:func:`~m5mm.evaluation.extract_features`, :class:`~m5mm.api.ProductEncoder`) runs it.
    A modality no sample of the batch has is not run: the fusion gets an empty placeholder for it
    (masked out, as the tower's output for absent samples is).

    Args:
        root: the folder :func:`~m5mm.deploy.onnx_export.export_onnx` wrote (verified before loading).
        threads: intra-op threads of each session (None: onnxruntime's default).
    """

    def __init__(self, root: PathLike, *, threads: Optional[int] = None) -> None:
        ort = require('onnxruntime', 'onnx')
        self.root = Path(root)
        self.manifest = read_manifest(self.root)
        self.modalities: List[str] = list(self.manifest['modalities'])
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = int(threads)
        self.sessions = {}
        for name, graph in self.manifest['graphs'].items():
            data = read_graph_bytes(self.root, graph['file'], self.manifest['files'][graph['file']])
            self.sessions[name] = ort.InferenceSession(data, sess_options=options, providers=['CPUExecutionProvider'])
        self.inputs = {name: {i['name']: i for i in graph['inputs']} for name, graph in self.manifest['graphs'].items()}
        self.widths = {m: int(self.manifest['graphs'][m]['outputs'][0]['shape'][2]) for m in self.modalities}
        self.training = False

    @property
    def fingerprint(self) -> str:
        """The sha256 of the torch weights the graphs were exported from."""
        return self.manifest['fingerprint']

    @property
    def quantize(self) -> Optional[str]:
        """None (float32) or 'int8'."""
        return self.manifest['quantize']

    def eval(self) -> 'OnnxBackbone':
        return self

    def to(self, device: Any) -> 'OnnxBackbone':
        """Only the CPU is supported (the graphs run on onnxruntime's CPU provider)."""
        if torch.device(device).type != 'cpu':
            raise ValueError(f'the ONNX backend runs on the CPU, not {device}')
        return self

    def _feeds(self, graph: str, entry: Mapping[str, Any]) -> Dict[str, np.ndarray]:
        feeds = {}
        for name, spec in self.inputs[graph].items():
            key = name.split('.', 1)[1]
            if key not in entry:
                raise OnnxFolderError(f'the {graph} graph needs the batch entry {key!r}, the batch has '
                                      f'{sorted(entry)}')
            value = entry[key]
            value = value.detach().cpu().numpy() if isinstance(value, Tensor) else np.asarray(value)
            feeds[name] = np.ascontiguousarray(value.astype(_NUMPY[spec['dtype']], copy=False))
        return feeds

    def _absent(self, m: str, batch_size: int) -> List[np.ndarray]:
        tokens = np.zeros((batch_size, 1, self.widths[m]), np.float32)
        pooled_width = int(self.manifest['graphs'][m]['outputs'][2]['shape'][1])
        return [tokens, np.zeros((batch_size, 1), bool), np.zeros((batch_size, pooled_width), np.float32),
                np.zeros(batch_size, bool)]

    def extract_features(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        """``joint`` (B, D), ``fused`` {m: (B, D)}, ``pooled`` {m: (B, D_m)}, ``present`` {m: (B,)} as tensors."""
        missing = [m for m in self.modalities if m not in batch]
        if missing:
            raise KeyError(f'the batch has no entry for {missing} (the model has {self.modalities})')
        batch_size = int(np.asarray(batch[self.modalities[0]]['present']).shape[0])
        fusion_feeds: List[np.ndarray] = []
        for m in self.modalities:
            present = np.asarray(batch[m]['present'].cpu() if isinstance(batch[m]['present'], Tensor)
                                 else batch[m]['present']).astype(bool)
            if present.any():
                fusion_feeds += self.sessions[m].run(None, self._feeds(m, batch[m]))
            else:
                fusion_feeds += self._absent(m, batch_size)
        feeds = dict(zip(fusion_input_names(self.modalities), fusion_feeds))
        outputs = self.sessions['fusion'].run(None, {name: feeds[name] for name in self.inputs['fusion']})
        result = dict(zip(fusion_output_names(self.modalities), (torch.from_numpy(o) for o in outputs)))
        width = len(TOWER_OUTPUTS)
        present = {m: torch.from_numpy(np.asarray(fusion_feeds[i * width + 3]).astype(bool))
                   for i, m in enumerate(self.modalities)}
        return {'joint': result['joint'], 'fused': {m: result[f'fused.{m}'] for m in self.modalities},
                'pooled': {m: result[f'pooled.{m}'] for m in self.modalities}, 'present': present}
