"""The protocol of losses computed from the fusion itself (e.g. matching against shuffled pairs)."""
from __future__ import annotations

from typing import Dict, Mapping

from torch import Tensor, nn

from m5mm.structures import EncoderOutput, FusionOutput


class BaseFusionLoss(nn.Module):
    """A loss that needs the fusion module and the encoder outputs, not only pooled vectors
    (contrastive losses) or one modality's fused tokens (masked losses).

    The pretrainer runs the fusion once per step on the encoder outputs (the masked pass) and
    then calls every fusion loss as ``loss(encoded=..., fusion=..., fused_output=...)``; the
    loss may run ``fusion`` again on modified encoder outputs (e.g. negatives). A subclass
    that owns parameters sized by the fusion width takes a ``dim`` argument: the pretrainer
    passes ``fusion.dim`` when the config does not set it. Every parameter it owns must take
    part in every call (return a 0 tied to them when there is nothing to learn from).
    """

    def forward(self, *, encoded: Mapping[str, EncoderOutput], fusion: nn.Module,
                fused_output: FusionOutput) -> Dict[str, Tensor]:
        """encoded: {m: EncoderOutput}; fused_output: ``fusion(encoded)`` -> named scalars."""
        raise NotImplementedError
