"""Parameter budgets of models built from configs, to keep the fusion benchmark fair.

Each config's model is built with a dataset ``meta`` faked from the config's tokenizer size
(no data is read), and its parameters are counted per part: ``encoders``, ``fusion``,
``heads`` (the objectives' heads and parameters, e.g. masked-prediction and matching heads and
learnable temperatures, and the contrastive projections) and ``other`` (harmonizer). A tensor shared by two
parts (the MLM head tied to the word embeddings, text and table sharing a BERT) counts once,
for the part that registers it first.

Usage::

    from m5mm.models.param_budget import budget_table, config_budget
    rows = [config_budget(path) for path in sorted(glob.glob('configs/fusion/*.py'))]
    print(budget_table(rows))
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from mmengine.config import Config
from torch import nn

from m5mm.models.builders import build_model

PARTS = ('encoders', 'fusion', 'heads', 'other')
PART_PREFIXES = {'encoders': ('backbone.encoders.',), 'fusion': ('backbone.fusion.',),
                 'heads': ('backbone.projections.', 'objectives.')}
# The special ids m5mm's WordPiece tokenizer assigns (m5mm.datasets.tokenizer).
SPECIAL_IDS = dict(pad_id=0, unk_id=1, cls_id=2, sep_id=3, mask_id=4)
DEFAULT_VOCAB_SIZE = 4000


def _as_config(config: Union[str, Path, Config, Mapping]) -> Config:
    if isinstance(config, Config):
        return config
    if isinstance(config, (str, Path)):
        if not Path(config).is_file():
            raise FileNotFoundError(f'config file not found: {config}')
        return Config.fromfile(str(config))
    return Config(dict(config))


def config_vocab_size(cfg: Config) -> int:
    """The tokenizer size the config's training dataset asks for (``DEFAULT_VOCAB_SIZE`` if unset)."""
    dataset = (cfg.get('train_dataloader') or {}).get('dataset') or {}
    tokenizer = dataset.get('tokenizer') or {}
    return int(tokenizer.get('vocab_size') or DEFAULT_VOCAB_SIZE)


def fake_data_meta(config: Union[str, Path, Config, Mapping], vocab_size: Optional[int] = None) -> dict:
    """A dataset ``meta`` for building the config's model without its data: the tokenizer ids of
    m5mm's WordPiece tokenizer with the config's vocabulary size (or ``vocab_size``) and the
    ``inputs`` (image sizes, ...) the training dataset's pipelines fix."""
    from m5mm.datasets.sample_builder import config_input_meta
    cfg = _as_config(config)
    encoders = (cfg.get('model') or {}).get('encoders') or {}
    size = config_vocab_size(cfg) if vocab_size is None else int(vocab_size)
    dataset = (cfg.get('train_dataloader') or {}).get('dataset') or {}
    return {'modalities': [m for m, enc in encoders.items() if enc is not None],
            'tokenizer': dict(vocab_size=size, **SPECIAL_IDS),
            'inputs': config_input_meta(dataset.get('modalities')) if dataset else {}}


def build_model_from_config(config: Union[str, Path, Config, Mapping],
                            data_meta: Optional[dict] = None) -> nn.Module:
    """The config's ``model``, given ``data_meta`` (default :func:`fake_data_meta`)."""
    cfg = _as_config(config)
    if cfg.get('model') is None:
        raise KeyError(f'config {getattr(cfg, "filename", None) or "<dict>"} has no `model`')
    meta = fake_data_meta(cfg) if data_meta is None else data_meta
    model_cfg = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(cfg.model)
    return build_model(model_cfg, meta, allow_compile=False)


def count_parameters(model: nn.Module) -> Dict[str, int]:
    """``total`` and per-part (:data:`PARTS`) parameter counts; shared tensors count once."""
    counts = dict.fromkeys(('total',) + PARTS, 0)
    for name, param in model.named_parameters():   # yields each shared tensor once
        part = next((p for p, prefixes in PART_PREFIXES.items() if name.startswith(prefixes)), 'other')
        counts[part] += param.numel()
        counts['total'] += param.numel()
    return counts


def config_budget(config: Union[str, Path], data_meta: Optional[dict] = None) -> Dict[str, Any]:
    """Build the model of ``config`` and report its parameter counts.

    Returns:
        ``config`` (file stem), ``model`` and ``fusion_type`` (class names), ``modalities``,
        ``total`` and the per-part counts.
    """
    model = build_model_from_config(config, data_meta)
    return {'config': Path(config).stem, 'model': type(model).__name__,
            'fusion_type': type(model.backbone.fusion).__name__,
            'modalities': list(getattr(model, 'modalities', [])), **count_parameters(model)}


def budget_violations(rows: Sequence[Mapping[str, Any]], tolerance: float = 0.1) -> List[str]:
    """Rows whose ``total`` is more than ``tolerance`` away from the median total of the rows with
    the same modalities -> one message per offender (empty when the budgets are comparable)."""
    groups: Dict[tuple, List[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row['modalities'])), []).append(row)
    problems = []
    for modalities, group in groups.items():
        totals = sorted(row['total'] for row in group)
        median = totals[len(totals) // 2]
        for row in group:
            deviation = row['total'] / median - 1.0
            if abs(deviation) > tolerance:
                problems.append(f'{row["config"]}: {row["total"]:,} parameters, {deviation:+.1%} from the '
                                f'median {median:,} of the {len(modalities)}-modality configs '
                                f'(tolerance {tolerance:.0%})')
    return problems


def budget_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A markdown table of the rows of :func:`config_budget` (counts in millions)."""
    header = ['config', 'model', 'fusion', 'modalities'] + [f'{key} (M)' for key in ('total',) + PARTS]
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for row in rows:
        counts = ' | '.join(f'{row[key] / 1e6:.3f}' for key in ('total',) + PARTS)
        lines.append(f'| {row["config"]} | {row["model"]} | {row["fusion_type"]} | '
                     f'{len(row["modalities"])} | {counts} |')
    return '\n'.join(lines)
