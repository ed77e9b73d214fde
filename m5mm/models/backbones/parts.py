"""Choosing a backbone's modalities and building its encoders (text and table may share one model)."""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from torch import nn

from m5mm.models.builders import accepts, build, config_class, needed_facts
from m5mm.registry import ENCODERS


def resolve_modalities(encoders: Mapping[str, Any], modalities: Optional[Sequence[str]]) -> List[str]:
    """The modalities a backbone keeps: those of ``encoders`` with a config (None entries removed
    in a config are skipped), restricted to ``modalities`` when given; in ``encoders``' order.

    Raises:
        KeyError: ``modalities`` names one without an encoder.
        ValueError: none is left.
    """
    configured = [m for m, cfg in encoders.items() if cfg is not None]
    if modalities is not None:
        missing = [m for m in modalities if m not in configured]
        if missing:
            raise KeyError(f'modalities {missing} have no encoder; encoders: {configured}')
        configured = [m for m in configured if m in modalities]
    if not configured:
        raise ValueError('a multi-modal model needs at least one encoder')
    return configured


def build_encoders(cfgs: Mapping[str, Any], tokenizer: Mapping[str, Any], share_text_table: bool, *,
                   inputs: Optional[Mapping[str, Mapping[str, Any]]] = None) -> Tuple[nn.ModuleDict, Dict[str, str]]:
    """Encoders from configs (or modules). Arguments a config leaves unset come from the data, where the
    encoder class declares them in ``needs`` (see :func:`~m5mm.models.builders.needed_facts`): ``vocab_size``
    / ``pad_token_id`` from the tokenizer meta, what the modality's pipeline fixes (``inputs[m]``, e.g.
    ``image_size``, ``n_mels``; the dataset meta's ``inputs``).

    With ``share_text_table`` a table config without its own ``backbone`` / ``pretrained`` is built
    on the text encoder's model.

    Returns:
        The encoders in ``cfgs``' order and ``{modality: modality whose encoder model it shares}``.
    """
    token_defaults = {'vocab_size': tokenizer.get('vocab_size'), 'pad_token_id': tokenizer.get('pad_id')}
    token_defaults = {k: v for k, v in token_defaults.items() if v is not None}
    built: Dict[str, nn.Module] = {}
    sharing: Dict[str, str] = {}
    for m in sorted(cfgs, key=lambda name: name != 'text'):   # text first: the table may share its model
        offered = {**token_defaults, **dict((inputs or {}).get(m) or {})}
        cfg = cfgs[m]
        cls = config_class(cfg, ENCODERS)
        defaults = {} if cls is None else {k: offered[k] for k in needed_facts(cls, offered, what='data facts')}
        if m == 'table' and share_text_table and 'text' in built and isinstance(cfg, dict) \
                and 'backbone' not in cfg and 'pretrained' not in cfg:
            if not accepts(config_class(cfg, ENCODERS), 'backbone') or not hasattr(built['text'], 'backbone'):
                raise TypeError(f'share_text_table=True needs a table encoder that accepts `backbone` and a text '
                                f'encoder with `.backbone`; got {cfg.get("type")} and '
                                f'{type(built["text"]).__name__} (set share_text_table=False)')
            defaults['backbone'] = built['text'].backbone
            sharing[m] = 'text'
        built[m] = build(cfg, ENCODERS, f'encoders[{m!r}]', defaults)
    return nn.ModuleDict({m: built[m] for m in cfgs}), sharing


def projection_configs(projection: Mapping[str, Any], overrides: Optional[Mapping[str, Mapping[str, Any]]],
                       modalities: Sequence[str], encoders: Mapping[str, Any]) -> Dict[str, dict]:
    """{modality: its projection head's config}: ``projection`` with ``overrides[modality]``'s keys replaced.

    Raises:
        KeyError: ``overrides`` names a modality no entry of ``encoders`` has (a typo); one the model
            leaves out (``modalities``) is ignored.
    """
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(encoders))
    if unknown:
        raise KeyError(f'projection_overrides names {unknown}, which have no encoder; encoders: {list(encoders)}')
    return {m: {**dict(projection), **dict(overrides.get(m) or {})} for m in modalities}
