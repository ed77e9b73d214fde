"""Matched-vs-shuffled classification from the fusion output (UNITER's image-text matching)."""
from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Callable, Dict, List, Mapping, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from m5mm.registry import OBJECTIVES
from m5mm.structures import EncoderOutput, FusionOutput
from .base_objective import BaseObjective
from .sampling import random_ints

if TYPE_CHECKING:
    from m5mm.models.backbones import ForwardContext, MultiModalBackbone

FEATURES = ('auto', 'cls', 'joint')


def derangement_partners(eligible: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
    """(B,) bool -> (B,) long partner index: a random cyclic shuffle among the eligible samples
    (none is its own partner when there are >= 2), the identity elsewhere."""
    partner = torch.arange(eligible.numel(), device=eligible.device)
    idx = eligible.nonzero(as_tuple=True)[0]
    if idx.numel() < 2:
        return partner
    gen_device = generator.device if generator is not None else idx.device
    order = idx[torch.randperm(idx.numel(), generator=generator, device=gen_device).to(idx.device)]
    partner[order] = order.roll(-1)   # each sample of the random cycle takes the next one's data
    return partner


def swap_rows(out: EncoderOutput, partner: Tensor) -> EncoderOutput:
    """An ``EncoderOutput`` whose row b holds sample ``partner[b]``'s outputs."""
    values = {f.name: getattr(out, f.name) for f in fields(out)}
    return EncoderOutput(**{k: v[partner] if isinstance(v, Tensor) else v for k, v in values.items()})


@OBJECTIVES.register_module()
class MatchingObjective(BaseObjective):
    """Matching objective of UNITER (Chen et al., ECCV 2020; ITM), ViLBERT's alignment prediction,
    for any number of modalities.

    Negatives: one modality m (``modality``, or one drawn at random per step among those with
    >= 2 eligible samples) is shuffled across the batch among the *eligible* samples, those
    that have m and at least one other modality, so that no sample keeps its own m (a random
    cyclic permutation). The fusion runs again on these corrupted encoder outputs; a small head
    (UNITER's pooler ``Linear -> tanh`` then ``Linear -> 2``) classifies the fusion feature of
    each eligible sample as matched (its original inputs, the step's fused output) or not (its
    corrupted inputs): cross-entropy over 2 x eligible examples. With < 2 eligible samples
    the loss is a 0 tied to the head and the fusion.

    Args:
        backbone: the model's backbone (the head's width is its fusion width).
        dim: the fusion width, when built without a backbone.
        modality: the modality to shuffle (None: drawn per step).
        feature: 'cls' (``extras['cls']``, the fusion [CLS] output), 'joint', or 'auto' (cls
            when the fusion has one, else joint).
        hidden_dim: width of the pooler (default ``dim``).
        loss_weight: factor of ``loss_{name}``.
        name: key suffix of the outputs (``loss_match``, ``acc_match``).
    """

    min_modalities = 2
    needs = ('backbone',)

    def __init__(self, *, backbone: Optional['MultiModalBackbone'] = None, dim: Optional[int] = None,
                 modality: Optional[str] = None, feature: str = 'auto', hidden_dim: Optional[int] = None,
                 loss_weight: float = 1.0, name: str = 'match') -> None:
        super().__init__(name=name, loss_weight=loss_weight)
        if dim is None and backbone is not None:
            dim = backbone.fused_dim(type(self).__name__)
        if dim is None:
            raise ValueError(f'{type(self).__name__} needs the backbone (or `dim`, the fusion width)')
        if feature not in FEATURES:
            raise ValueError(f'feature must be one of {FEATURES}, got {feature!r}')
        hidden = hidden_dim or dim
        self.head = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 2))
        self.modality = modality
        self.modalities = (modality,) if modality is not None else ()
        self.feature = feature

    def eligible(self, encoded: Mapping[str, EncoderOutput], modality: str) -> Tensor:
        """(B,) bool: samples that have ``modality`` and at least one other modality."""
        present = {m: out.present.bool() for m, out in encoded.items()}
        others = [present[m] for m in present if m != modality]
        has_other = torch.stack(others).any(dim=0) if others else torch.zeros_like(present[modality])
        return present[modality] & has_other

    def pick_modality(self, encoded: Mapping[str, EncoderOutput],
                      generator: Optional[torch.Generator] = None) -> str:
        """``modality``, or a random one among those with >= 2 eligible samples (the first if none)."""
        order: List[str] = list(encoded)
        if self.modality is not None:
            if self.modality not in encoded:
                raise KeyError(f'{type(self).__name__}: modality {self.modality!r} is not encoded '
                               f'(modalities: {order})')
            return self.modality
        usable = [m for m in order if int(self.eligible(encoded, m).sum()) >= 2]
        if not usable:
            return order[0]
        device = next(iter(encoded.values())).present.device
        return usable[int(random_ints(len(usable), (1,), device=device, generator=generator))]

    def _feature(self, out: FusionOutput) -> Tensor:
        if self.feature == 'joint' or (self.feature == 'auto' and 'cls' not in out.extras):
            return out.joint
        if 'cls' not in out.extras:
            raise KeyError(f"{type(self).__name__}: feature='cls' but the fusion returns no extras['cls'] "
                           f"(use feature='joint' or 'auto')")
        return out.extras['cls']

    def forward(self, ctx: 'ForwardContext') -> Dict[str, Tensor]:
        """The step's encoder outputs and fused output, the backbone's fusion for the negatives."""
        return self.compute(encoded=ctx.encoded, fuse=ctx.backbone.fuse, fused_output=ctx.fused)

    def compute(self, *, encoded: Mapping[str, EncoderOutput], fuse: Callable[..., FusionOutput],
                fused_output: FusionOutput, generator: Optional[torch.Generator] = None) -> Dict[str, Tensor]:
        """encoded {m: EncoderOutput}, fused_output = fuse(encoded) -> ``loss_{name}``, ``acc_{name}``."""
        modality = self.pick_modality(encoded, generator)
        eligible = self.eligible(encoded, modality)
        partner = derangement_partners(eligible, generator)
        corrupted = dict(encoded)
        corrupted[modality] = swap_rows(encoded[modality], partner)
        negative = fuse(corrupted)
        feats = torch.cat([self._feature(fused_output), self._feature(negative)], dim=0)   # (2B, D)
        logits = self.head(feats.to(self.head[0].weight.dtype)).float()                   # (2B, 2)
        batch = eligible.numel()
        labels = torch.cat([torch.ones(batch), torch.zeros(batch)]).long().to(logits.device)
        shuffled = eligible & (partner != torch.arange(batch, device=partner.device))
        valid = torch.cat([shuffled, shuffled]).float()
        ce = F.cross_entropy(logits, labels, reduction='none')
        count = valid.sum()
        loss = (ce * valid).sum() / count.clamp_min(1.0)
        hits = ((logits.detach().argmax(-1) == labels).float() * valid).sum()
        acc = hits / count.clamp_min(1.0)
        return {f'loss_{self.name}': loss * self.loss_weight, f'acc_{self.name}': acc}
