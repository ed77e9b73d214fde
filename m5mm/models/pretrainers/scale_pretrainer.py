"""SCALE: the multi-modal pretrainer with self-harmonized modality weights."""
from __future__ import annotations

from typing import Mapping, Optional

from m5mm.registry import MODELS
from .multi_modal_pretrainer import ConfigOrModule, MultiModalPretrainer


def default_scale_losses(modalities) -> dict:
    """SCALE's losses for ``modalities``: contrastive over all pairs, MLM (text), MEM (table) and
    masked feature regression for the others."""
    losses = {'con': dict(type='InterModalityContrastiveLoss')}
    for m in modalities:
        if m == 'text':
            losses['mlm'] = dict(type='MaskedLanguageModelLoss', modality='text')
        elif m == 'table':
            losses['mem'] = dict(type='MaskedEntityModelLoss', modality='table')
        else:
            losses[f'mfm_{m}'] = dict(type='MaskedFeatureRegressionLoss', modality=m)
    return losses


@MODELS.register_module()
class ScalePretrainer(MultiModalPretrainer):
    """SCALE (Dong et al., CVPR 2022): five encoders, the single-stream ``ScaleFusion``,
    the cosine-graph harmonizer [code] weighting the all-pairs contrastive loss and the
    masked tasks. ``losses=None`` runs :func:`default_scale_losses` for the configured
    modalities; ``fusion`` defaults to ``ScaleFusion`` (width 768, 6 layers, 8 heads).
    See :class:`MultiModalPretrainer` for the arguments.
    """

    def __init__(self, *, encoders: Mapping[str, ConfigOrModule], fusion: ConfigOrModule = None,
                 harmonizer: Optional[ConfigOrModule] = None,
                 losses: Optional[Mapping[str, ConfigOrModule]] = None, mask_ratio: float = 0.15,
                 share_text_table: bool = True, contrastive_on_unmasked: bool = False,
                 projection: Optional[dict] = None, data_meta: Optional[dict] = None) -> None:
        super().__init__(encoders=encoders, fusion=fusion or dict(type='ScaleFusion'),
                         harmonizer=harmonizer or dict(type='CosineGraphHarmonizer'),
                         losses=losses if losses is not None else default_scale_losses(
                             [m for m, cfg in encoders.items() if cfg is not None]),
                         mask_ratio=mask_ratio, share_text_table=share_text_table,
                         contrastive_on_unmasked=contrastive_on_unmasked, projection=projection,
                         data_meta=data_meta)
