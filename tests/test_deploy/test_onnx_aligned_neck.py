"""A model whose product vector comes from the aligned embeddings (AlignedJointNeck) exports to ONNX."""
import pytest
import torch

from m5mm.registry import MODELS
from tests.test_models.batch_factory import make_batch, tiny_data_meta, tiny_encoder_cfgs


def test_the_aligned_neck_exports_and_gives_the_torch_joint(tmp_path):
    pytest.importorskip('onnxruntime')
    from m5mm.deploy import OnnxBackbone
    from m5mm.deploy.onnx_export import write_onnx_folder
    torch.manual_seed(0)
    model = MODELS.build(dict(type='ScalePretrainer', encoders=tiny_encoder_cfgs(32), data_meta=tiny_data_meta(),
                              fusion=dict(type='ScaleFusion', dim=32, depth=1, num_heads=2),
                              projection=dict(type='ProjectionHead', out_dim=32, activation='relu'),
                              neck=dict(type='AlignedJointNeck', centre=True, importance=True, complete=True)))
    model.train()
    model(make_batch(6))                                     # one update of the running centres and moments
    model.eval()
    write_onnx_folder(model.backbone, make_batch(4), tmp_path, fingerprint='test')
    runner = OnnxBackbone(tmp_path)
    for batch in (make_batch(4), make_batch(7)):
        expected, got = model.extract_features(batch), runner.extract_features(batch)
        torch.testing.assert_close(got['joint'], expected['joint'], rtol=0, atol=1e-4)
