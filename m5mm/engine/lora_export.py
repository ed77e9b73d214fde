"""Merging a LoRA run's adapters into plain weights (``tools/convert_checkpoint.py --merge-lora``)."""
from __future__ import annotations

from pathlib import Path
from typing import Tuple, Union

from mmengine.config import Config
from torch import nn

from m5mm.checkpoint.weights import save_model_state_dict
from m5mm.evaluation.evaluate_checkpoint import build_model_for_eval

PathLike = Union[str, Path]


def merge_model_lora(model: nn.Module) -> int:
    """Merge every tower's LoRA adapters into its weights (outputs unchanged); returns how many layers."""
    return sum(module.merge_lora() for module in model.modules() if hasattr(module, 'merge_lora')
               and callable(module.merge_lora))


def merged_config(cfg: Config) -> Config:
    """``cfg`` with ``lora`` dropped from every encoder: towers built from it take the merged weights."""
    cfg = Config(cfg.to_dict() if hasattr(cfg, 'to_dict') else dict(cfg))
    for encoder in dict(cfg.model.get('encoders') or {}).values():
        if isinstance(encoder, dict) and encoder.get('lora') is not None:
            encoder.pop('lora')
            encoder['freeze'] = True
    return cfg


def export_merged_weights(cfg: Config, checkpoint: PathLike, out: PathLike) -> Tuple[Path, Path, int]:
    """Load ``checkpoint`` into ``cfg.model``, merge its LoRA adapters and write plain weights to ``out``
    and the matching config (LoRA removed, merged towers frozen) to ``<out>.config.py``.

    Returns:
        (weights path, config path, merged layer count).
    """
    model = build_model_for_eval(cfg, checkpoint)
    count = merge_model_lora(model)
    if count == 0:
        raise ValueError(f'{checkpoint}: the model has no LoRA adapters to merge (no tower of the config sets lora)')
    path = save_model_state_dict(model.state_dict(), out)
    config_path = Path(f'{out}.config.py')
    merged_config(cfg).dump(str(config_path))
    return path, config_path, count
