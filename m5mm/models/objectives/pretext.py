"""The default objectives of a modality set: SCALE's contrastive loss plus each modality's pretext task."""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence

from m5mm.registry import MODALITIES
from m5mm.utils.build import find_registered

CONTRASTIVE = dict(type='InterModalityContrastiveObjective')
FEATURE_PRETEXT = 'MaskedFeatureRegressionObjective'


def pretext_objective(modality: str) -> dict:
    """The masked-modelling objective config of ``modality``, as its spec declares it
    (:meth:`~m5mm.datasets.modalities.ModalitySpec.pretext_objective`: masked token modelling for
    token modalities, masked feature regression for continuous ones); masked feature regression for
    a name no spec is registered under. Holds ``name`` (the output key suffix) and ``modality``."""
    spec = find_registered(MODALITIES, modality)
    cfg = spec.pretext_objective() if spec is not None else dict(type=FEATURE_PRETEXT, name=f'mfm_{modality}')
    return dict(cfg, modality=modality)


def default_objectives(modalities: Sequence[str],
                       encoder_sharing: Optional[Mapping[str, str]] = None) -> Dict[str, dict]:
    """SCALE's objectives for ``modalities``: the all-pairs contrastive loss (``con``) and every
    modality's pretext objective, keyed by its name (``mlm``, ``mem``, ``mfm_image``, ...).

    Args:
        modalities: the model's modalities, in order.
        encoder_sharing: modality -> modality whose encoder model it runs on (the backbone's
            ``encoder_sharing``, e.g. ``{'table': 'text'}``); the pretext objectives of two such
            modalities share one head (the first one's), tied to their common word embeddings.
    """
    partner: Dict[str, str] = {}
    for m, source in (encoder_sharing or {}).items():
        partner[m], partner[source] = source, m
    objectives: Dict[str, dict] = {'con': dict(CONTRASTIVE)}
    names: Dict[str, str] = {}
    for m in modalities:
        cfg = pretext_objective(m)
        name = cfg.pop('name')
        if partner.get(m) in names:
            cfg['share_head'] = names[partner[m]]
        names[m] = name
        objectives[name] = cfg
    return objectives
