"""The torch modules one ONNX file each is traced from: a modality's tower, and fusion + joint head."""
from __future__ import annotations

from typing import Dict, List, Mapping, Sequence, Tuple

from torch import Tensor, nn

from m5mm.models.backbones.forward_context import ForwardContext
from m5mm.structures import EncoderOutput

#: what a tower graph returns for its modality (:class:`~m5mm.structures.EncoderOutput` fields)
TOWER_OUTPUTS = ('tokens', 'mask', 'pooled', 'present')


def tower_input_names(modality: str, keys: Sequence[str]) -> List[str]:
    """ONNX input names of a tower: ``'<modality>.<key>'`` for each tensor of the batch entry."""
    return [f'{modality}.{key}' for key in keys]


def tower_output_names(modality: str) -> List[str]:
    """ONNX output names of a tower (the fusion graph's inputs): ``'encoded.<modality>.<output>'``."""
    return [f'encoded.{modality}.{name}' for name in TOWER_OUTPUTS]


def fusion_input_names(modalities: Sequence[str]) -> List[str]:
    """ONNX input names of the fusion graph: each modality's tower outputs in turn."""
    return [name for m in modalities for name in tower_output_names(m)]


def fusion_output_names(modalities: Sequence[str]) -> List[str]:
    """``joint`` (B, D), then ``fused.<m>`` (B, D) and ``pooled.<m>`` (B, D_m) of every modality."""
    return ['joint'] + [f'fused.{m}' for m in modalities] + [f'pooled.{m}' for m in modalities]


class TowerGraph(nn.Module):
    """One modality's encoder of a backbone with positional tensor inputs (as ONNX wants them).

    ``forward(*tensors)`` (the batch entry's tensors in the order of ``keys``) -> tokens (B, N, D),
    mask (B, N) bool, pooled (B, D), present (B,) bool: what the backbone's ``encode`` gives
    the fusion for this modality (unmasked).
    """

    def __init__(self, *, backbone: nn.Module, modality: str, keys: Sequence[str]) -> None:
        super().__init__()
        self.encoder = backbone.encoders[modality]
        self.keys = list(keys)

    def forward(self, *tensors: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        out = self.encoder(dict(zip(self.keys, tensors)), mask_ratio=0.0)
        return out.tokens, out.mask, out.pooled, out.present


class FusionGraph(nn.Module):
    """The backbone after its towers: fusion, projections, harmonizer and joint head.

    ``forward(*tensors)`` takes every modality's tower outputs in the order of
    :func:`fusion_input_names` (an absent sample: ``present`` False, its mask all False) and returns
    the tensors of :func:`fusion_output_names`, computed by the backbone's own ``features``.
    """

    def __init__(self, *, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.modalities = list(backbone.modalities)

    def forward(self, *tensors: Tensor) -> Tuple[Tensor, ...]:
        width = len(TOWER_OUTPUTS)
        encoded: Dict[str, EncoderOutput] = {
            m: EncoderOutput(**dict(zip(TOWER_OUTPUTS, tensors[i * width:(i + 1) * width])))
            for i, m in enumerate(self.modalities)}
        out = self.backbone.features(ForwardContext.of_encoded(self.backbone, encoded))   # the towers ran outside
        return (out['joint'], *[out['fused'][m] for m in self.modalities],
                *[out['pooled'][m] for m in self.modalities])


def entry_tensors(entry: Mapping[str, object]) -> Dict[str, Tensor]:
    """The tensors of a batch entry, in their order (non-tensor values left out)."""
    return {key: value for key, value in entry.items() if isinstance(value, Tensor)}
