"""Pretrained towers (transformers CLIP vision, XLM-R with LoRA, VideoMAE, wav2vec2 at test size) export to ONNX."""
from __future__ import annotations

import pytest
import torch

pytest.importorskip('onnxruntime')

from tests.conftest import PRETRAINED_TINY  # noqa: E402


@torch.no_grad()
def test_pretrained_towers_and_fusion_equal_torch(tiny_pretrained, demo_root, tmp_path):
    from m5mm.deploy import OnnxBackbone
    from m5mm.deploy.onnx_export import write_onnx_folder
    from m5mm.datasets.loaders import build_dataset
    from m5mm.models.param_budget import build_model_from_config
    from m5mm.utils.config import load_config
    cfg = load_config(str(PRETRAINED_TINY), {'data_root': str(demo_root), 'pretrained_root': str(tiny_pretrained)})
    dataset = build_dataset(cfg.test_dataloader.dataset)
    model = build_model_from_config(cfg, dataset.meta).eval()
    batch = dataset.collate([dataset[i] for i in range(6)])
    write_onnx_folder(model.backbone, batch, tmp_path, fingerprint='test')
    runner = OnnxBackbone(tmp_path)
    other = dataset.collate([dataset[i] for i in range(6, 9)])      # another batch size
    for b in (batch, other):
        expected, got = model.extract_features(b), runner.extract_features(b)
        torch.testing.assert_close(got['joint'], expected['joint'], rtol=0, atol=1e-4)
        for m in model.modalities:
            torch.testing.assert_close(got['fused'][m], expected['fused'][m], rtol=0, atol=1e-4)
