"""The base of every modality spec: where a modality lives in a record and how it is batched.

A spec declares its tensors as :class:`KeySpec` entries; the generic :meth:`ModalitySpec.collate`
then pads or stacks them, builds the modality's mask from the sequence lengths and adds the
per-sample ``present`` flag. A plugin modality usually only declares its keys::

    @MODALITIES.register_module(name='pointcloud')
    class PointCloudModality(ModalitySpec):
        name = 'pointcloud'
        keys = (KeySpec('points', pad=0.0, shape=(3,)),)
        mask_key = 'point_mask'
        raw_pipeline = (dict(type='LoadPointCloud'),)

Its pretext task in SCALE follows from the keys (token ids -> masked token modelling, anything else
-> masked feature regression) unless the spec sets ``pretext`` (an ``OBJECTIVES`` config with a
``name``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

PAD_ID = 'pad_id'  # a pad value that stands for the tokenizer's padding id
SOURCES = ('raw', 'feature')

Template = Dict[str, Tuple[Tuple[int, ...], torch.dtype]]


@dataclass(frozen=True)
class KeySpec:
    """One tensor of a modality's sample dict and how it is batched.

    Attributes:
        name: the key in the sample and batch dicts.
        kind: ``'padded'`` (dim 0 varies, padded to the longest in the batch) or ``'stacked'``
            (every sample has the same shape).
        pad: pad value, or :data:`PAD_ID` for the tokenizer's padding id.
        shape: shape of one item used when no sample of a batch has the modality and nothing
            better is known: the dims after the first for padded keys, the full shape otherwise.
        dtype: dtype of that placeholder.
    """

    name: str
    kind: str = 'padded'
    pad: Union[float, int, str] = 0
    shape: Tuple[int, ...] = ()
    dtype: torch.dtype = torch.float32


FEATURE_KEYS = (KeySpec('feats', pad=0.0, shape=(1,)),)


class ModalitySpec:
    """A modality's manifest fields, value parsing, default pipelines and collate.

    Args:
        source: ``'raw'`` (media or value in the record's ``field``) or ``'feature'``
            (a ``.npy`` array in ``feature_field``), which switches the keys to ``feats``/``feat_mask``.
        pad_id: the tokenizer's padding id (for keys whose pad value is :data:`PAD_ID`).
        shapes: key -> item shape overriding the declared placeholder shapes (see :class:`KeySpec`).
        field: the record field holding the modality (default: the modality name).
        pad_to_multiple: pad the length L of a batch's padded keys up to a multiple of this (1: to the
            longest sample), so a run sees a handful of shapes (``torch.compile`` compiles each once);
            the mask is False on the extra positions. Keep L within the encoder's positions (a
            multiple that divides the pipeline's ``max_length``).
    """

    name: ClassVar[str] = ''
    field_type: ClassVar[str] = 'path'  # 'path': the field holds a media path; 'value': the data itself
    keys: ClassVar[Tuple[KeySpec, ...]] = ()
    mask_key: ClassVar[Optional[str]] = None
    raw_pipeline: ClassVar[Tuple[dict, ...]] = ()
    feature_pipeline: ClassVar[Tuple[dict, ...]] = (dict(type='LoadFeature'),)
    pretext: ClassVar[Optional[dict]] = None  # the masked-modelling objective (see pretext_objective)

    def __init__(self, *, source: str = 'raw', pad_id: int = 0,
                 shapes: Optional[Dict[str, Sequence[int]]] = None, field: Optional[str] = None,
                 pad_to_multiple: int = 1) -> None:
        if source not in SOURCES:
            raise ValueError(f'{self.name}: source must be one of {SOURCES}, got {source!r}')
        if isinstance(pad_to_multiple, bool) or not isinstance(pad_to_multiple, int) or pad_to_multiple < 1:
            raise ValueError(f'{self.name}: pad_to_multiple must be a positive int, got {pad_to_multiple!r}')
        self.pad_to_multiple = pad_to_multiple
        self.source = source
        self.pad_id = pad_id
        self.field = field or self.name
        self.feature_field = f'{self.name}_feat'
        self.shapes = {k: tuple(v) for k, v in (shapes or {}).items()}
        unknown = set(self.shapes) - {k.name for k in self.item_keys}
        if unknown:
            raise ValueError(f'{self.name}: shapes given for unknown keys {sorted(unknown)}; '
                             f'keys are {[k.name for k in self.item_keys]}')

    # ----------------------------------------------------------------- records
    @property
    def item_keys(self) -> Tuple[KeySpec, ...]:
        """The keys of one sample's entry for the configured source."""
        return FEATURE_KEYS if self.source == 'feature' else self.keys

    @property
    def batch_mask_key(self) -> Optional[str]:
        """The name of the (B, L) bool mask in the batch entry."""
        return 'feat_mask' if self.source == 'feature' else self.mask_key

    @property
    def record_field(self) -> str:
        """The record field read for the configured source."""
        return self.feature_field if self.source == 'feature' else self.field

    @property
    def reads_path(self) -> bool:
        """Whether the record field is a path (relative to the data root) rather than a value."""
        return self.source == 'feature' or self.field_type == 'path'

    def parse_value(self, value: Any) -> Any:
        """Validate a record's raw field; None (or empty) means absent.

        Raises:
            ValueError: with a short reason when the value has the wrong type.
        """
        if value is None:
            return None
        if self.reads_path:
            if not isinstance(value, str):
                raise ValueError(f'{self.name}: expected a path string, got {type(value).__name__}')
            return value.strip() or None
        return self.parse_raw_value(value)

    def parse_raw_value(self, value: Any) -> Any:
        """Validate a non-path field value (``field_type='value'`` modalities override this)."""
        return value

    def text_values(self, value: Any) -> List[str]:
        """Strings of a parsed value to train a tokenizer on (none for media modalities)."""
        return []

    @classmethod
    def is_token_modality(cls) -> bool:
        """Whether the modality is token ids (a key padded with the tokenizer's pad id)."""
        return any(key.pad == PAD_ID for key in cls.keys)

    @classmethod
    def pretext_objective(cls) -> dict:
        """The config of the modality's masked-modelling objective, with its ``name`` (the
        output key suffix): ``pretext`` when the spec declares one, else masked token modelling
        (``mlm_<name>``) for a token modality and masked feature regression (``mfm_<name>``) for
        a continuous one. ``ScalePretrainer`` trains it for every modality it encodes."""
        if cls.pretext is not None:
            return dict(cls.pretext)
        if cls.is_token_modality():
            return dict(type='MaskedLanguageModelObjective', name=f'mlm_{cls.name}')
        return dict(type='MaskedFeatureRegressionObjective', name=f'mfm_{cls.name}')

    def default_pipeline(self) -> List[dict]:
        """The transform configs used when a dataset config gives no pipeline."""
        pipeline = self.feature_pipeline if self.source == 'feature' else self.raw_pipeline
        return [dict(step) for step in pipeline]

    # ----------------------------------------------------------------- collate
    def template_of(self, item: Dict[str, Tensor]) -> Template:
        """Shapes (dims after the first for padded keys) and dtypes of one sample's entry."""
        template = {}
        for key in self.item_keys:
            value = item[key.name]
            shape = tuple(value.shape[1:]) if key.kind == 'padded' else tuple(value.shape)
            template[key.name] = (shape, value.dtype)
        return template

    def default_template(self) -> Template:
        """Declared placeholder shapes (overridden by ``shapes``)."""
        return {k.name: (self.shapes.get(k.name, k.shape), k.dtype) for k in self.item_keys}

    def collate(self, items: List[Optional[Dict[str, Any]]], template: Optional[Template] = None
                ) -> Dict[str, Tensor]:
        """Batch one modality's entries (None for absent samples).

        Args:
            items: B sample entries, each a dict of the spec's keys or None.
            template: item shapes and dtypes to use when every item is None (else the first
                present item's, else :meth:`default_template`).

        Returns:
            ``present`` (B,) bool, each key padded (B, L, ...) or stacked (B, ...), and the mask
            key (B, L) bool, False at padding and for absent samples.
        """
        items = [self._check_item(item) for item in items]
        present = [item is not None for item in items]
        first = next((item for item in items if item is not None), None)
        if first is not None:
            template = self.template_of(first)
        elif template is None:
            template = self.default_template()
        out: Dict[str, Tensor] = {'present': torch.tensor(present, dtype=torch.bool)}
        lengths = None
        for key in self.item_keys:
            values = [None if item is None else item[key.name] for item in items]
            shape, dtype = template[key.name]
            if key.kind == 'stacked':
                out[key.name] = self._stack(key, values, shape, dtype)
                continue
            out[key.name], key_lengths = self._pad(key, values, shape, dtype)
            if lengths is not None and not torch.equal(lengths, key_lengths):
                raise ValueError(f'{self.name}: padded keys have different lengths per sample: '
                                 f'{key.name} {key_lengths.tolist()} vs {lengths.tolist()}')
            lengths = key_lengths
        mask_key = self.batch_mask_key
        if mask_key is not None and lengths is not None:
            width = self.padded_width(lengths)
            out[mask_key] = torch.arange(width)[None, :] < lengths[:, None]
        return out

    def _check_item(self, item: Optional[Dict[str, Any]]) -> Optional[Dict[str, Tensor]]:
        if item is None:
            return None
        if not isinstance(item, dict):
            raise TypeError(f'{self.name}: a sample entry must be a dict or None, got {type(item).__name__}')
        missing = [k.name for k in self.item_keys if k.name not in item]
        if missing:
            raise KeyError(f'{self.name} ({self.source}): sample entry lacks {missing} (has {sorted(item)}); '
                           f'check the modality pipeline')
        return {k.name: torch.as_tensor(item[k.name]) if isinstance(item[k.name], np.ndarray)
                else item[k.name] for k in self.item_keys}

    def padded_width(self, lengths: Tensor) -> int:
        """L of a batch of items of ``lengths`` (B,): the longest (at least 1), rounded up to ``pad_to_multiple``."""
        width = max(int(lengths.max()) if len(lengths) else 0, 1)
        return -(-width // self.pad_to_multiple) * self.pad_to_multiple

    def _pad_value(self, key: KeySpec) -> Union[int, float]:
        return self.pad_id if key.pad == PAD_ID else key.pad

    def _stack(self, key: KeySpec, values: List[Optional[Tensor]], shape: Tuple[int, ...],
               dtype: torch.dtype) -> Tensor:
        for value in values:
            if value is not None and tuple(value.shape) != tuple(shape):
                raise ValueError(f'{self.name}.{key.name}: samples of one batch must share a shape, got '
                                 f'{tuple(value.shape)} and {tuple(shape)} (resize them in the pipeline)')
        filler = torch.full(shape, self._pad_value(key), dtype=dtype)
        return torch.stack([filler if v is None else v.to(dtype) for v in values])

    def _pad(self, key: KeySpec, values: List[Optional[Tensor]], shape: Tuple[int, ...],
             dtype: torch.dtype) -> Tuple[Tensor, Tensor]:
        lengths = torch.tensor([0 if v is None else v.shape[0] for v in values], dtype=torch.long)
        width = self.padded_width(lengths)
        out = torch.full((len(values), width, *shape), self._pad_value(key), dtype=dtype)
        for row, value in enumerate(values):
            if value is None:
                continue
            if value.dim() == 0 or tuple(value.shape[1:]) != tuple(shape):
                trailing = ', '.join(map(str, shape))
                raise ValueError(f'{self.name}.{key.name}: expected items of shape (L, {trailing}) '
                                 f'in this batch, got {tuple(value.shape)}')
            out[row, :value.shape[0]] = value
        return out, lengths

    def __repr__(self) -> str:
        return f'{type(self).__name__}(source={self.source!r}, field={self.record_field!r})'
