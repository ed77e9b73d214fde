"""Product classification fine-tuning: a pretrainer's encoders + fusion and the paper's head."""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

import torch
from torch import Tensor, nn

from m5mm.models.pretrainers.builders import build
from m5mm.registry import HEADS, MODELS
from m5mm.structures import META_KEY, EncoderOutput, FusionOutput, select_modalities

from .matching_weights import WeightsLoadReport, load_matching_weights

NUM_CLASSES_KEYS = {'category': 'num_categories', 'instance': 'num_instances'}


@MODELS.register_module()
class MultiModalClassifier(nn.Module):
    """Fine-tunes a multi-modal backbone for product classification (SCALE_SPEC section 4).

    The backbone is built from a pretrainer config (e.g. ``ScalePretrainer``); the classifier
    keeps its ``encoders``, ``fusion`` and contrastive ``projections`` under the same
    parameter names (so a pretraining checkpoint loads as is) and drops the pretraining
    heads, losses and harmonizer. The head (:class:`~m5mm.models.heads.ClassificationHead`,
    ``Linear -> 1024 -> dropout 0.1 -> Linear`` over the fused first-token vectors of every
    modality) predicts ``batch['meta'][label_key]``; unknown labels (-1) are ignored.

    ``forward(batch) -> {'loss_cls': (), 'acc_cls': ()}``;
    ``extract_features(batch)`` -> the backbone's features (docs/concepts.md) plus
    ``logits`` (B, C), which the evaluation scores instead of a linear probe.

    Args:
        backbone: the pretrainer config (or a built pretrainer with ``encoders`` and ``fusion``).
        head: classification head config; ``in_dim`` (the fusion width), ``modalities`` and
            ``num_classes`` are filled in when unset.
        num_classes: number of classes; None = ``data_meta['num_categories']`` (or
            ``num_instances`` for ``label_key='instance'``).
        label_key: the ``batch['meta']`` field holding the labels.
        init_from: a pretraining checkpoint (checkpoint dir, work dir = its latest checkpoint,
            or a converted weights file); only tensors matching by name and shape are loaded
            (see :attr:`init_report`) and they get the optimizer's ``pretrained_lr_mult``.
        data_meta: the dataset's ``meta`` (tokenizer ids for the text encoders, classes).
    """

    def __init__(self, *, backbone: Any, head: Optional[dict] = None, num_classes: Optional[int] = None,
                 label_key: str = 'category', init_from: Optional[str] = None,
                 data_meta: Optional[dict] = None) -> None:
        super().__init__()
        pretrainer = build(backbone, MODELS, 'backbone', dict(data_meta=data_meta))
        for part in ('encoders', 'fusion'):
            if not isinstance(getattr(pretrainer, part, None), nn.Module):
                raise TypeError(f'MultiModalClassifier: the backbone {type(pretrainer).__name__} has no '
                                f'`{part}` module; use a pretrainer such as ScalePretrainer')
        self.encoders: nn.ModuleDict = pretrainer.encoders
        self.fusion: nn.Module = pretrainer.fusion
        self.projections: Optional[nn.ModuleDict] = getattr(pretrainer, 'projections', None)
        self.modalities: List[str] = list(self.encoders)
        self.label_key = label_key
        self.num_classes = self._num_classes(num_classes, head, data_meta)
        self.head = HEADS.build(dict(head or dict(type='ClassificationHead')), default_args=dict(
            in_dim=self._fused_dim(head), modalities=self.modalities, num_classes=self.num_classes))
        self.init_report: Optional[WeightsLoadReport] = None
        self.pretrained_prefixes: List[str] = []
        if init_from:
            self.init_report = load_matching_weights(self, init_from)
            # exact names: each is a prefix of itself only, for the optimizer's lower learning rate
            self.pretrained_prefixes = list(self.init_report.loaded)

    # ------------------------------------------------------------------ building

    def _num_classes(self, num_classes: Optional[int], head: Optional[dict],
                     data_meta: Optional[dict]) -> int:
        if num_classes is None and head and head.get('num_classes') is not None:
            num_classes = head['num_classes']
        if num_classes is None:
            key = NUM_CLASSES_KEYS.get(self.label_key, f'num_{self.label_key}')
            num_classes = (data_meta or {}).get(key)
        if not num_classes or int(num_classes) < 1:
            raise ValueError(f'MultiModalClassifier needs the number of classes: set num_classes or build it '
                             f'with a dataset meta holding {NUM_CLASSES_KEYS.get(self.label_key)!r} '
                             f'(got {num_classes!r})')
        return int(num_classes)

    def _fused_dim(self, head: Optional[dict]) -> int:
        if head and head.get('in_dim') is not None:
            return int(head['in_dim'])
        dim = getattr(self.fusion, 'dim', None)
        if dim is None:
            raise AttributeError(f'{type(self.fusion).__name__} has no `dim` (the width of its fused '
                                 f'vectors); set head.in_dim')
        return int(dim)

    # ------------------------------------------------------------------ running

    def _encode(self, batch: Mapping[str, Any]) -> Dict[str, EncoderOutput]:
        inputs = select_modalities(batch, self.modalities, type(self).__name__)
        return {m: self.encoders[m](inputs[m]) for m in self.modalities}

    def _pooled(self, encoded: Mapping[str, EncoderOutput]) -> Dict[str, Tensor]:
        if self.projections is None:
            return {m: encoded[m].pooled for m in self.modalities}
        return {m: self.projections[m](encoded[m].pooled) for m in self.modalities}

    def labels(self, batch: Mapping[str, Any]) -> Tensor:
        """(B,) long labels from ``batch['meta'][label_key]`` (-1 = unknown)."""
        meta = batch.get(META_KEY) or {}
        if self.label_key not in meta:
            raise KeyError(f"batch['meta'] has no {self.label_key!r} labels; it has {sorted(meta)}")
        labels = torch.as_tensor(meta[self.label_key]).long()
        too_big = labels >= self.num_classes
        if too_big.any():
            raise ValueError(f'label {int(labels[too_big][0])} >= num_classes={self.num_classes}: the '
                             f'dataset has more classes than the classifier was built for')
        return labels

    def forward(self, batch: Mapping[str, Any]) -> Dict[str, Tensor]:
        """batch (docs/concepts.md layout) -> ``{'loss_cls', 'acc_cls'}`` over samples with a known label."""
        encoded = self._encode(batch)
        fused = self.fusion(encoded)
        present = {m: encoded[m].present for m in self.modalities}
        labels = self.labels(batch).to(fused.joint.device)
        out = dict(self.head.loss(fused.fused, present, labels))
        out['loss_cls'] = out['loss_cls'] + 0.0 * self._unused_outputs(encoded, fused)
        return out

    def _unused_outputs(self, encoded: Dict[str, EncoderOutput], fused: FusionOutput) -> Tensor:
        """Sum of the outputs the loss does not read (pooled vectors, joint, fused tokens), so that
        DDP/DeepSpeed see every parameter used (it is multiplied by 0)."""
        parts = [v.float().sum() for v in self._pooled(encoded).values()]
        parts += [fused.joint.float().sum()] + [t.float().sum() for t in fused.tokens.values()]
        return sum(parts)

    @torch.no_grad()
    def extract_features(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        """``joint`` (B, D), ``fused`` {m: (B, D)}, ``pooled`` {m: (B, D)}, ``present`` {m: (B,)} and
        ``logits`` (B, num_classes) of the classification head."""
        encoded = self._encode(batch)
        fused = self.fusion(encoded)
        present = {m: encoded[m].present for m in self.modalities}
        return {'joint': fused.joint, 'fused': dict(fused.fused), 'pooled': self._pooled(encoded),
                'present': present, 'logits': self.head(fused.fused, present).float()}
