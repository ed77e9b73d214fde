"""Product classification from the fused per-modality vectors: the paper's fine-tuning objective."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from m5mm.registry import HEADS, OBJECTIVES
from m5mm.structures import META_KEY
from .base_objective import BaseObjective

if TYPE_CHECKING:
    from m5mm.models.backbones import ForwardContext, MultiModalBackbone

NUM_CLASSES_KEYS = {'category': 'num_categories', 'instance': 'num_instances'}


@OBJECTIVES.register_module()
class ClassificationObjective(BaseObjective):
    """Cross-entropy of ``batch['meta'][label_key]`` from a classification head over the fused
    vectors of every modality (absent ones flagged); unknown labels (-1) are ignored.

    Outputs ``loss_<name>`` and ``acc_<name>``; :meth:`predict` gives ``logits`` (B, C), which
    the evaluation scores instead of a linear probe.

    Args:
        backbone: the model's backbone (the head reads its modalities' fused vectors).
        head: the head config (default :class:`~m5mm.models.heads.ClassificationHead`); ``in_dim``
            (the fusion width), ``modalities`` and ``num_classes`` are filled in when unset.
        num_classes: number of classes; None = the head's, else ``data_meta['num_categories']``
            (``num_instances`` for ``label_key='instance'``).
        label_key: the ``batch['meta']`` field holding the labels.
        data_meta: the dataset's meta.
        loss_weight: factor of ``loss_<name>``.
        name: key suffix of the outputs.
    """

    needs = ('backbone', 'data_meta')

    def __init__(self, *, backbone: 'MultiModalBackbone', head: Optional[dict] = None,
                 num_classes: Optional[int] = None, label_key: str = 'category', data_meta: Optional[dict] = None,
                 loss_weight: float = 1.0, name: str = 'cls') -> None:
        super().__init__(name=name, loss_weight=loss_weight)
        self.label_key = label_key
        self.num_classes = self._num_classes(num_classes, head, data_meta)
        head = dict(head or dict(type='ClassificationHead'))
        in_dim = head.get('in_dim')
        owner = f'{type(self).__name__} (or set head.in_dim)'
        in_dim = int(in_dim) if in_dim is not None else backbone.fused_dim(owner)
        self.head = HEADS.build(head, default_args=dict(in_dim=in_dim, modalities=backbone.modalities,
                                                        num_classes=self.num_classes))

    def _num_classes(self, num_classes: Optional[int], head: Optional[Mapping[str, Any]],
                     data_meta: Optional[dict]) -> int:
        if num_classes is None and head and head.get('num_classes') is not None:
            num_classes = head['num_classes']
        if num_classes is None:
            key = NUM_CLASSES_KEYS.get(self.label_key, f'num_{self.label_key}')
            num_classes = (data_meta or {}).get(key)
        if not num_classes or int(num_classes) < 1:
            raise ValueError(f'{type(self).__name__} needs the number of classes: set num_classes or build it '
                             f'with a dataset meta holding {NUM_CLASSES_KEYS.get(self.label_key)!r} '
                             f'(got {num_classes!r})')
        return int(num_classes)

    def labels(self, meta: Mapping[str, Any]) -> Tensor:
        """(B,) long labels from ``meta[label_key]`` (-1 = unknown)."""
        if self.label_key not in meta:
            raise KeyError(f"batch['meta'] has no {self.label_key!r} labels; it has {sorted(meta)}")
        labels = torch.as_tensor(meta[self.label_key]).long()
        too_big = labels >= self.num_classes
        if too_big.any():
            raise ValueError(f'label {int(labels[too_big][0])} >= num_classes={self.num_classes}: the '
                             f'dataset has more classes than the model was built for')
        return labels

    def forward(self, ctx: 'ForwardContext') -> Dict[str, Tensor]:
        """Cross-entropy and accuracy over the samples with a known label."""
        fused = ctx.fused
        labels = self.labels(ctx.batch.get(META_KEY) or {}).to(fused.joint.device)
        logits = self.head(fused.fused, ctx.present)
        valid = labels >= 0
        count = int(valid.sum())
        if not count:
            zero = logits.new_zeros((), dtype=torch.float32)
            return {f'loss_{self.name}': zero, f'acc_{self.name}': zero, f'count_{self.name}': 0}
        loss = F.cross_entropy(logits[valid].float(), labels[valid])
        acc = (logits[valid].argmax(-1) == labels[valid]).float().mean()
        return {f'loss_{self.name}': loss * self.loss_weight, f'acc_{self.name}': acc, f'count_{self.name}': count}

    def predict(self, ctx: 'ForwardContext') -> Dict[str, Tensor]:
        """``logits`` (B, num_classes) of the head."""
        return {'logits': self.head(ctx.fused.fused, ctx.present).float()}
