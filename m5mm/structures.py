"""The modality contract shared by datasets, encoders, fusion strategies and objectives.

A **batch** is a plain dict (so Accelerate and DeepSpeed move it to the device as is)::

    batch = {
        'image': {'present': (B,) bool, 'pixels': (B, 3, H, W) float},
        'text':  {'present': (B,) bool, 'input_ids': (B, L) long, 'attention_mask': (B, L) bool},
        ...,
        'meta':  {'ids': list[str], 'category': (B,) long, 'instance': (B,) long},
    }

Every modality entry carries a per-sample ``present`` flag; its other keys are the
modality's own (see ``m5mm.datasets.modalities``). Absent samples hold padding, which
every module masks out: it is never attended to and never enters a loss.

Every encoder returns an :class:`EncoderOutput`, every fusion strategy a :class:`FusionOutput` and
every harmonizer a :class:`HarmonizerOutput`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Dict, Mapping, Optional, Sequence

from torch import Tensor

BUILTIN_MODALITIES = ('image', 'text', 'table', 'video', 'audio')
META_KEY = 'meta'

ModalityBatch = Dict[str, Tensor]
Batch = Dict[str, Any]


class TensorRecord(dict):
    """Base of the output dataclasses: attribute access, and a ``dict`` underneath.

    Being a dict lets DeepSpeed ZeRO-3 find the tensors of a module's output (it hooks them to
    re-gather parameters in the backward pass) and lets Accelerate move or gather them; the
    attributes and the items stay the same objects whichever way they are set.
    """

    def __post_init__(self) -> None:
        for f in fields(self):
            dict.__setitem__(self, f.name, getattr(self, f.name))

    def __setitem__(self, key: str, value: Any) -> None:
        dict.__setitem__(self, key, value)
        object.__setattr__(self, key, value)

    def __setattr__(self, key: str, value: Any) -> None:
        object.__setattr__(self, key, value)
        if key in self.__dataclass_fields__:
            dict.__setitem__(self, key, value)

    def __reduce__(self):
        return (type(self), tuple(getattr(self, f.name) for f in fields(self)))


@dataclass(eq=False)
class EncoderOutput(TensorRecord):
    """What an encoder returns for one modality.

    Attributes:
        tokens: (B, N, D) token embeddings; token 0 is the modality's global token.
        mask: (B, N) bool, True for real tokens of present samples.
        pooled: (B, D) the global embedding used by the contrastive loss.
        present: (B,) bool, whether each sample has this modality.
        targets: (B, N, F) regression targets for masked feature modelling (continuous
            modalities only), aligned with ``tokens``.
        masked: (B, N) bool, tokens whose input was replaced by the mask embedding.
    """

    tokens: Tensor
    mask: Tensor
    pooled: Tensor
    present: Tensor
    targets: Optional[Tensor] = None
    masked: Optional[Tensor] = None


@dataclass(eq=False)
class FusionOutput(TensorRecord):
    """What a fusion strategy returns.

    Attributes:
        tokens: modality -> (B, N_m, D) fused tokens, aligned with the encoder's tokens.
        fused: modality -> (B, D) fused feature of the modality (its first fused token).
        joint: (B, D) one vector for the whole product (mean of present modalities' fused
            features unless the strategy defines its own).
        extras: strategy-specific tensors (e.g. matching logits).
    """

    tokens: Dict[str, Tensor]
    fused: Dict[str, Tensor]
    joint: Tensor
    extras: Dict[str, Tensor] = field(default_factory=dict)


@dataclass(eq=False)
class HarmonizerOutput(TensorRecord):
    """What a harmonizer returns.

    Attributes:
        weights: (B, M, M) per-sample modality-pair weights, modalities in the order of the
            harmonizer's input; 0 in the rows and columns of a sample's absent modalities.
        importance: modality -> detached scalar, the mean weight the present modalities give it
            (for logging as ``weight_<m>``).
    """

    weights: Tensor
    importance: Dict[str, Tensor] = field(default_factory=dict)


def select_modalities(batch: Batch, modalities: Sequence[str], owner: str) -> Dict[str, ModalityBatch]:
    """``{m: batch[m]}`` for ``modalities``, with a clear error when ``batch`` lacks one."""
    if not isinstance(batch, Mapping):
        raise TypeError(f'{owner} expects a batch dict keyed by modality, got {type(batch).__name__}')
    missing = [m for m in modalities if m not in batch]
    if missing:
        raise KeyError(f'the batch has no entry for modalities {missing} that {owner} encodes; batch '
                       f'modalities: {batch_modalities(batch)}, encoders: {list(modalities)}')
    return {m: batch[m] for m in modalities}


def batch_modalities(batch: Batch) -> list:
    """The modality names present as keys of ``batch`` (``meta`` excluded), in order."""
    return [key for key in batch if key != META_KEY]
