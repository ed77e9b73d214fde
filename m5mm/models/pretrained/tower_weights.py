"""The part every pretrained tower shares: tuning its ``backbone`` and keeping frozen weights out of checkpoints.

A tower (an encoder with a ``backbone`` loaded from a pretrained source) mixes in
:class:`PretrainedWeightsMixin`. Then:

- ``freeze=True``: the backbone never trains, runs in eval mode under ``torch.no_grad``
  (also after ``model.train()``); ``trainable_layers=N``: its last N blocks train; ``lora``:
  LoRA adapters train. Frozen parameters have ``requires_grad=False``, so the optimizer
  builder never gives them a slot.
- ``state_dict()`` leaves out the backbone weights that equal the pretrained source (frozen,
  never loaded from a checkpoint) and records the source and its fingerprint instead;
  ``load_state_dict`` accepts their absence (they were loaded from the source when the tower
  was built) and fails clearly when the checkpoint was made from another source. Every
  checkpoint, export and weight-loading path gets small frozen/LoRA checkpoints this way.
"""
from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from typing import List, Optional, Set

import torch
from torch import Tensor, nn

from m5mm.utils.pretrained_source import resolve_pretrained, source_fingerprint

from .tuning import LORA_MARK, add_lora, check_tuning, freeze as freeze_module, has_lora, merge_lora, train_last_layers

logger = logging.getLogger(__name__)
EXTRA_STATE = '_extra_state'


@dataclass
class SourceInfo:
    """Where a backbone's weights came from (kept on the backbone, so towers sharing it agree).

    Attributes:
        source: the ``pretrained`` value of the config.
        fingerprint: :func:`~m5mm.utils.pretrained_source.source_fingerprint` of its folder.
        modified: weights were loaded from a checkpoint or merged, so they no longer equal the source.
    """

    source: str
    fingerprint: str
    modified: bool = False


def source_info(source: str) -> SourceInfo:
    """The :class:`SourceInfo` of ``source`` (a folder or hub id)."""
    return SourceInfo(source=source, fingerprint=source_fingerprint(resolve_pretrained(source)))


class PretrainedWeightsMixin:
    """Tuning modes, train/eval handling and the checkpoint behaviour of a tower's ``backbone``.

    A subclass loads ``self.backbone``, sets ``self.backbone._m5mm_source`` (:func:`source_info`)
    and calls :meth:`setup_tuning`.
    """

    backbone: nn.Module
    frozen: bool = False

    def setup_tuning(self, *, freeze: bool, trainable_layers: Optional[int], lora: Optional[dict],
                     shared: bool = False) -> None:
        """Apply one of ``freeze``, ``trainable_layers``, ``lora`` (none: the whole backbone trains).

        ``shared``: the backbone belongs to another tower, which tuned it (the options must be unset);
        this tower is frozen when no backbone parameter trains.
        """
        check_tuning(freeze=freeze, trainable_layers=trainable_layers, lora=lora)
        self.register_state_dict_post_hook(_drop_source_weights)
        if shared:
            if freeze or trainable_layers is not None or lora is not None:
                raise ValueError(f'{type(self).__name__} shares another tower\'s backbone, which decides how it '
                                 f'trains; set freeze / trainable_layers / lora on that tower')
            self.frozen = not any(p.requires_grad for p in self.backbone.parameters())
            return
        self.frozen = bool(freeze)
        if freeze:
            freeze_module(self.backbone)
            self.backbone.eval()
        elif trainable_layers is not None:
            train_last_layers(self.backbone, trainable_layers)
        elif lora is not None:
            self.backbone = add_lora(self.backbone, dict(lora))

    @property
    def source(self) -> Optional[SourceInfo]:
        """The backbone's :class:`SourceInfo` (None for a randomly initialised backbone)."""
        return getattr(self.backbone, '_m5mm_source', None)

    def backbone_context(self):
        """``torch.no_grad()`` for a frozen tower, else a no-op context."""
        return torch.no_grad() if self.frozen else contextlib.nullcontext()

    def train(self, mode: bool = True):
        """As ``nn.Module.train``; a frozen backbone stays in eval mode, and so do BatchNorm layers
        without trainable parameters (their statistics stay those of the source)."""
        super().train(mode)
        if self.frozen:
            self.backbone.eval()
        for module in self.backbone.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and \
                    not any(p.requires_grad for p in module.parameters()):
                module.eval()
        return self

    @property
    def pretrained_prefixes(self) -> List[str]:
        """Names of the trainable backbone parameters loaded from the source (LoRA adapters are new
        weights), which the optimizer builder trains at ``pretrained_lr_mult`` x the learning rate."""
        return [f'backbone.{n}' for n, p in self.backbone.named_parameters()
                if p.requires_grad and LORA_MARK not in n]

    @pretrained_prefixes.setter
    def pretrained_prefixes(self, value) -> None:  # set by TextBertEncoder; computed here instead
        pass

    def source_state_names(self) -> Set[str]:
        """State names (relative to this tower) whose values are the source's: frozen backbone
        parameters, and the backbone's buffers when it is frozen (eval mode leaves them unchanged)."""
        info = self.source
        if info is None or info.modified:
            return set()
        state = self.backbone.state_dict(keep_vars=True)  # persistent entries only
        return {f'backbone.{n}' for n, v in state.items()
                if (not v.requires_grad if isinstance(v, nn.Parameter) else self.frozen)}

    def get_extra_state(self) -> Tensor:
        """The source and its fingerprint, as UTF-8 JSON bytes (a uint8 tensor: safetensors-friendly)."""
        info = self.source
        record = {} if info is None else dict(source=info.source, fingerprint=info.fingerprint)
        return torch.tensor(list(json.dumps(record).encode()), dtype=torch.uint8)

    def set_extra_state(self, state) -> None:
        """Checked in ``_load_from_state_dict``; nothing to restore."""

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        names = self.source_state_names()
        absent = [n for n in names if prefix + n not in state_dict]
        self._check_source(state_dict.get(prefix + EXTRA_STATE), relies_on_source=bool(absent), prefix=prefix)
        if len(absent) < len(names) and self.source is not None:
            self.source.modified = True  # the checkpoint carries these weights: keep saving them
        if absent:  # loaded from the source when the tower was built
            current = self.backbone.state_dict(keep_vars=True)
            for name in absent:
                state_dict[prefix + name] = current[name[len('backbone.'):]].detach()
        state_dict.setdefault(prefix + EXTRA_STATE, self.get_extra_state())
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def _check_source(self, saved: Optional[Tensor], *, relies_on_source: bool, prefix: str) -> None:
        if saved is None or self.source is None:
            return
        record = json.loads(bytes(saved.to(torch.uint8).tolist()).decode() or '{}') if isinstance(saved, Tensor) \
            else dict(saved or {})
        if not record or record.get('fingerprint') == self.source.fingerprint:
            return
        message = (f'{prefix.rstrip(".") or type(self).__name__}: the checkpoint was made from {record["source"]!r} '
                   f'(fingerprint {record["fingerprint"][:12]}), this model loads {self.source.source!r} '
                   f'({self.source.fingerprint[:12]})')
        if relies_on_source:
            raise ValueError(f'{message}; its frozen weights are not in the checkpoint, so it only loads with the '
                             f'same pretrained model')
        logger.warning('m5mm: %s; the checkpoint holds all weights, which are used', message)

    def merge_lora(self) -> int:
        """Merge the LoRA adapters into the backbone (plain weights; outputs unchanged); returns how many.

        The merged weights differ from the source, so they are saved in full from now on.
        """
        if not has_lora(self.backbone):
            return 0
        count = merge_lora(self.backbone)
        freeze_module(self.backbone)
        if self.source is not None:
            self.source.modified = True
        return count


def _drop_source_weights(module: PretrainedWeightsMixin, state_dict, prefix: str, local_metadata) -> None:
    for name in module.source_state_names():
        state_dict.pop(prefix + name, None)
