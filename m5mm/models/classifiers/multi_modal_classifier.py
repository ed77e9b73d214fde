"""Product classification fine-tuning: a pretrained backbone and the classification objective."""
from __future__ import annotations

from typing import Any, List, Optional

from m5mm.models.backbones import MultiModalBackbone
from m5mm.models.builders import build
from m5mm.models.checkpoint_names import CLASSIFIER_ORDER
from m5mm.models.multi_modal_model import MultiModalModel
from m5mm.models.objectives import ClassificationObjective
from m5mm.registry import MODELS
from .matching_weights import WeightsLoadReport, load_matching_weights


def take_backbone(cfg: Any, data_meta: Optional[dict]) -> MultiModalBackbone:
    """The backbone of a model config (a pretrainer's, e.g. ``ScalePretrainer``) or a backbone
    config / module itself, without its harmonizer (classification weighs no modality pairs; a
    ``joint='importance'`` backbone falls back to the fusion's ``joint``)."""
    model = build(cfg, MODELS, 'backbone', dict(data_meta=data_meta))
    backbone = model if isinstance(model, MultiModalBackbone) else getattr(model, 'backbone', None)
    if not isinstance(backbone, MultiModalBackbone):
        raise TypeError(f'MultiModalClassifier: {type(model).__name__} is neither a MultiModalBackbone nor a '
                        f'model with one (`backbone`); use a pretrainer config such as ScalePretrainer')
    backbone.harmonizer = None
    backbone.joint_source = 'fusion'
    return backbone


@MODELS.register_module()
class MultiModalClassifier(MultiModalModel):
    """Fine-tunes a multi-modal backbone for product classification (docs/method.md section 4).

    The backbone comes from a pretrainer config (e.g. ``ScalePretrainer``; its objectives and
    harmonizer are dropped) or a ``MultiModalBackbone`` config, and keeps its parameter names
    (``backbone.*``), so a pretraining checkpoint loads as is. The one objective, ``cls``
    (:class:`~m5mm.models.objectives.ClassificationObjective`: ``Linear -> 1024 -> dropout 0.1
    -> Linear`` over the fused first-token vectors of every modality), predicts
    ``batch['meta'][label_key]``; unknown labels (-1) are ignored.

    ``forward(batch) -> {'loss_cls': (), 'acc_cls': ()}``; ``extract_features(batch)`` -> the
    backbone's features plus ``logits`` (B, C), which the evaluation scores instead of a probe.

    Args:
        backbone: a pretrainer config (or a built model with a ``backbone``), or a backbone config.
        head: classification head config (see :class:`ClassificationObjective`).
        num_classes: number of classes; None = ``data_meta['num_categories']`` (or
            ``num_instances`` for ``label_key='instance'``).
        label_key: the ``batch['meta']`` field holding the labels.
        init_from: a pretraining checkpoint (checkpoint dir, work dir = its latest checkpoint,
            or a converted weights file, of this or an earlier m5mm); only tensors matching by name
            and shape are loaded (see :attr:`init_report`) and they get the optimizer's
            ``pretrained_lr_mult``.
        data_meta: the dataset's ``meta`` (tokenizer ids for the text encoders, classes).
    """

    legacy_order = CLASSIFIER_ORDER

    def __init__(self, *, backbone: Any, head: Optional[dict] = None, num_classes: Optional[int] = None,
                 label_key: str = 'category', init_from: Optional[str] = None,
                 data_meta: Optional[dict] = None) -> None:
        net = take_backbone(backbone, data_meta)
        objective = ClassificationObjective(backbone=net, head=head, num_classes=num_classes, label_key=label_key,
                                            data_meta=data_meta)
        super().__init__(backbone=net, objectives={'cls': objective})
        self.init_report: Optional[WeightsLoadReport] = None
        self.pretrained_prefixes: List[str] = []
        if init_from:
            self.init_report = load_matching_weights(self, init_from)
            # exact names: each is a prefix of itself only, for the optimizer's lower learning rate
            self.pretrained_prefixes = list(self.init_report.loaded)
