"""Every transform on real generated files: shapes, dtypes, value ranges, reference values."""
import numpy as np
import pytest
import torch

from m5mm.datasets import MediaError
from m5mm.datasets.tokenizer import load_tokenizer
from m5mm.datasets.transforms import (Compose, LoadAudioMel, LoadFeature, LoadImage, NormalizeImage,
                                      RandomFlipImage, ResizeImage, SampleVideoFrames, TokenizeTable,
                                      TokenizeText)
from m5mm.datasets.transforms.decode import frame_indices
from m5mm.datasets.transforms.normalize_image import IMAGENET_MEAN, IMAGENET_STD
from m5mm.datasets.transforms.tokenize_table import pack_pairs
from m5mm.registry import TRANSFORMS


def res(path, **extra):
    return dict(path=str(path), seed=0, **extra)


# ---------------------------------------------------------------- images
def test_load_image_matches_pil(data_root):
    from PIL import Image
    out = LoadImage()(res(data_root / 'images/p0.jpg'))
    ref = np.asarray(Image.open(data_root / 'images/p0.jpg').convert('RGB'))
    assert out['pixels'].shape == (3, 40, 50) and out['pixels'].dtype == torch.uint8
    assert np.array_equal(out['pixels'].permute(1, 2, 0).numpy(), ref)
    png = LoadImage()(res(data_root / 'images/p4.png'))['pixels']
    assert png.shape == (3, 33, 44)


def test_load_image_draft_decodes_smaller_but_large_enough(data_root, tmp_path):
    from .media_files import write_jpeg
    write_jpeg(tmp_path / 'big.jpg', 400, 600)
    out = LoadImage(draft_size=64)(res(tmp_path / 'big.jpg'))['pixels']
    assert 64 <= out.shape[1] < 400 and 64 <= out.shape[2] < 600


def test_large_pngs_are_reduced_on_load_and_huge_images_refused_before_decoding(tmp_path):
    import struct
    import zlib

    from .media_files import write_jpeg
    write_jpeg(tmp_path / 'big.png', 400, 600, fmt='PNG')
    out = LoadImage(draft_size=64)(res(tmp_path / 'big.png'))['pixels']
    assert out.shape == (3, -(-400 // 6), 600 // 6)   # box-reduced by 6: still at least 64 x 64
    assert LoadImage()(res(tmp_path / 'big.png'))['pixels'].shape == (3, 400, 600)
    with pytest.raises(MediaError, match='image too large: .*600x400 pixels > max_pixels=100000'):
        LoadImage(max_pixels=100_000)(res(tmp_path / 'big.png'))
    # a 10000 x 10000 PNG header (the data would take 300 MB decoded): refused by the default cap unread
    data = bytearray((tmp_path / 'big.png').read_bytes())
    ihdr = struct.pack('>II', 10000, 10000) + bytes(data[24:29])
    data[16:33] = ihdr + struct.pack('>I', zlib.crc32(b'IHDR' + ihdr))
    (tmp_path / 'huge.png').write_bytes(bytes(data))
    with pytest.raises(MediaError, match='image too large: .*10000x10000 pixels > max_pixels=50000000'):
        LoadImage(draft_size=64)(res(tmp_path / 'huge.png'))


def test_resize_and_normalize_reference(data_root):
    pixels = LoadImage()(res(data_root / 'images/p1.jpg'))['pixels']
    resized = ResizeImage(size=(16, 24))({'pixels': pixels})['pixels']
    assert resized.shape == (3, 16, 24) and resized.dtype == torch.uint8
    cropped = ResizeImage(size=20, crop=True)({'pixels': pixels})['pixels']
    assert cropped.shape == (3, 20, 20)
    flat = torch.full((3, 10, 30), 200, dtype=torch.uint8)
    assert (ResizeImage(size=7, crop=True)({'pixels': flat})['pixels'] == 200).all()
    norm = NormalizeImage()({'pixels': resized})['pixels']
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    assert norm.dtype == torch.float32
    assert torch.allclose(norm, (resized.float() / 255 - mean) / std, atol=1e-6)
    assert norm.min() >= (0 - mean.max()) / std.min() - 1e-4
    assert norm.max() <= (1 - mean.min()) / std.min() + 1e-4
    with pytest.raises(ValueError):
        ResizeImage(size=(0, 3))


def test_random_flip_is_a_function_of_the_seed():
    pixels = torch.arange(12, dtype=torch.float32).view(1, 3, 4)
    flip = RandomFlipImage(prob=0.5)
    draws = [flip({'pixels': pixels, 'seed': s})['flipped'] for s in range(40)]
    assert 5 < sum(draws) < 35
    again = [flip({'pixels': pixels, 'seed': s})['flipped'] for s in range(40)]
    assert draws == again
    out = RandomFlipImage(prob=1.0)({'pixels': pixels, 'seed': 3})['pixels']
    assert torch.equal(out, pixels.flip(-1))
    with pytest.raises(KeyError, match='seed'):
        flip({'pixels': pixels})


# ---------------------------------------------------------------- video
def test_frame_indices_uniform_and_jittered():
    assert frame_indices(20, 4).tolist() == [2, 7, 12, 17]
    assert frame_indices(3, 4).tolist() == [0, 1, 2]
    rng = np.random.default_rng(0)
    jit = frame_indices(20, 4, rng)
    assert all(5 * i <= j < 5 * (i + 1) for i, j in enumerate(jit))


def test_sample_video_frames_shapes_and_sampled_content(data_root):
    out = SampleVideoFrames(num_frames=4, size=(24, 32))(res(data_root / 'videos/p0.mp4'))
    frames = out['frames']
    assert frames.shape == (4, 3, 24, 32) and frames.dtype == torch.float32
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    grey = (frames * std + mean).mean(dim=(1, 2, 3)) * 255  # frame i of the clip is grey 10 * i
    assert torch.allclose(grey, torch.tensor([20., 70., 120., 170.]), atol=6)
    short = SampleVideoFrames(num_frames=4, size=16)(res(data_root / 'videos/p1.mp4'))['frames']
    assert short.shape == (3, 3, 16, 16)


def test_video_jitter_is_deterministic_per_seed(data_root):
    step = SampleVideoFrames(num_frames=4, size=16, jitter=True)
    a = step(res(data_root / 'videos/p0.mp4'))['frames']
    b = step(res(data_root / 'videos/p0.mp4'))['frames']
    assert torch.equal(a, b)
    other = [step(dict(path=str(data_root / 'videos/p0.mp4'), seed=s))['frames'] for s in range(1, 6)]
    assert any(not torch.equal(a, o) for o in other)


# ---------------------------------------------------------------- audio
def test_load_audio_mel_reference_and_frames_vs_duration(data_root):
    import librosa
    step = LoadAudioMel(max_duration=4.0)
    mel = step(res(data_root / 'audio/p0.wav'))['mel']  # 2 s stereo at 22.05 kHz
    assert mel.shape == (1 + 2 * 16000 // 256, 80) and mel.dtype == torch.float32
    assert abs(float(mel.mean())) < 1e-4 and abs(float(mel.std()) - 1) < 1e-2
    wave, _ = librosa.load(str(data_root / 'audio/p0.wav'), sr=16000, mono=True)
    ref = np.log(np.maximum(librosa.feature.melspectrogram(y=wave, sr=16000, n_fft=1024, hop_length=256,
                                                           n_mels=80), 1e-10)).T
    ref = (ref - ref.mean()) / (ref.std() + 1e-5)
    assert np.allclose(mel.numpy(), ref, atol=1e-4)
    capped = step(res(data_root / 'audio/p1.wav'))['mel']  # 6 s, capped at 4 s
    assert capped.shape == (1 + 4 * 16000 // 256, 80)
    full = LoadAudioMel(max_duration=None, n_mels=40)(res(data_root / 'audio/p1.wav'))['mel']
    assert full.shape == (1 + 6 * 16000 // 256, 40)
    fixed = LoadAudioMel(max_duration=1.0, mean=-5.0, std=2.0)(res(data_root / 'audio/p1.wav'))['mel']
    raw = LoadAudioMel(max_duration=1.0)(res(data_root / 'audio/p1.wav'))['mel']
    assert fixed.shape == raw.shape and not torch.allclose(fixed, raw)
    with pytest.raises(ValueError):
        LoadAudioMel(mean=1.0)


# ---------------------------------------------------------------- features
def test_load_feature(data_root, tmp_path):
    feats = LoadFeature()(res(data_root / 'feats/p0.npy'))['feats']
    assert torch.equal(feats, torch.arange(80, dtype=torch.float32).view(5, 16))
    assert LoadFeature(max_tokens=2)(res(data_root / 'feats/p0.npy'))['feats'].shape == (2, 16)
    one = LoadFeature()(res(data_root / 'feats/p1.npy'))['feats']
    assert one.shape == (1, 16) and one.dtype == torch.float32
    np.save(tmp_path / 'nan.npy', np.array([[np.nan, 1.0]]))
    np.save(tmp_path / 'cube.npy', np.zeros((2, 2, 2)))
    for name in ('nan.npy', 'cube.npy'):
        with pytest.raises(MediaError) as err:
            LoadFeature()(res(tmp_path / name))
        assert err.value.reason == 'corrupt feature'
    with pytest.raises(MediaError) as err:
        LoadFeature()(res(data_root / 'feats/bad.npy'))
    assert err.value.reason == 'corrupt feature'


# ---------------------------------------------------------------- broken media
@pytest.mark.parametrize('step,path,reason', [
    (LoadImage(), 'images/trunc.jpg', 'corrupt image'),
    (LoadImage(), 'audio/fake.wav', 'corrupt image'),
    (LoadImage(), 'images/nope.jpg', 'missing file'),
    (SampleVideoFrames(), 'videos/trunc.mp4', 'corrupt video'),
    (SampleVideoFrames(), 'videos/trunc_indexed.mp4', 'corrupt video'),
    (SampleVideoFrames(), 'images/p0.jpg', 'corrupt video'),
    (LoadAudioMel(), 'audio/fake.wav', 'corrupt audio'),
    (LoadAudioMel(), 'audio/none.wav', 'missing file'),
    (LoadFeature(), 'images', 'unreadable file'),
])
def test_broken_media_raise_media_error(data_root, step, path, reason):
    with pytest.raises(MediaError) as err:
        step(res(data_root / path))
    assert err.value.reason == reason


def test_empty_file_is_a_media_error(tmp_path):
    (tmp_path / 'empty.jpg').write_bytes(b'')
    with pytest.raises(MediaError, match='empty file'):
        LoadImage()(res(tmp_path / 'empty.jpg'))


# ---------------------------------------------------------------- text and table
def test_tokenize_text(tokenizer_dir):
    tok = load_tokenizer(tokenizer_dir)
    out = TokenizeText()(dict(value='Red cotton T-shirt', tokenizer=tok))['input_ids']
    assert out.dtype == torch.long
    assert out.tolist() == [tok.cls_id, *tok.encode('Red cotton T-shirt'), tok.sep_id]
    short = TokenizeText(max_length=4)(dict(value='Red cotton T-shirt', tokenizer=tok))['input_ids']
    assert short.tolist() == [tok.cls_id, *tok.encode('Red cotton T-shirt')[:2], tok.sep_id]
    with pytest.raises(ValueError, match='needs a tokenizer'):
        TokenizeText()(dict(value='x', tokenizer=None))


def test_tokenize_table_segments_and_pair_spans(tokenizer_dir):
    tok = load_tokenizer(tokenizer_dir)
    pairs = [('brand', 'Acme'), ('color', 'red'), ('battery', '24 h')]
    out = TokenizeTable()(dict(value=pairs, tokenizer=tok))
    ids, seg, pid = out['input_ids'].tolist(), out['token_type_ids'].tolist(), out['pair_ids'].tolist()
    assert ids[0] == tok.cls_id and ids[-1] == tok.sep_id and pid[0] == pid[-1] == -1
    assert len(ids) == len(seg) == len(pid)
    pos = 1
    for index, (key, value) in enumerate(pairs):
        k, v = tok.encode(key), tok.encode(value)
        span = slice(pos, pos + len(k) + len(v))
        assert ids[span] == k + v
        assert seg[span] == [0] * len(k) + [1] * len(v)
        assert pid[span] == [index] * (len(k) + len(v))
        pos += len(k) + len(v)
    assert pos == len(ids) - 1


def test_table_truncates_at_pair_boundaries():
    pairs = [([1, 2], [3]), ([4], [5, 6, 7]), ([8], [9])]
    assert pack_pairs(pairs, budget=5) == ([1, 2, 3], [0, 0, 1], [0, 0, 0])  # pair 1 would not fit
    assert pack_pairs(pairs, budget=7) == ([1, 2, 3, 4, 5, 6, 7], [0, 0, 1, 0, 1, 1, 1],
                                           [0, 0, 0, 1, 1, 1, 1])
    # a first pair longer than the budget is cut (key first)
    assert pack_pairs([([1, 2, 3], [4, 5])], budget=4) == ([1, 2, 3, 4], [0, 0, 0, 1], [0, 0, 0, 0])
    assert pack_pairs([([], []), ([1], [2])], budget=4) == ([1, 2], [0, 1], [1, 1])


class _BackendSpy:
    """Delegates to a tokenizer backend and records the length of every text it is given."""

    def __init__(self, backend) -> None:
        self.backend, self.lengths = backend, []

    def encode(self, text, **kwargs):
        self.lengths.append(len(text))
        return self.backend.encode(text, **kwargs)

    def encode_batch(self, texts, **kwargs):
        self.lengths += [len(t) for t in texts]
        return self.backend.encode_batch(texts, **kwargs)


def _spied(tokenizer_dir):
    from m5mm.datasets.tokenizer import TextTokenizer
    tok = TextTokenizer(tokenizer=load_tokenizer(tokenizer_dir).tokenizer, path=tokenizer_dir)
    tok._backend = _BackendSpy(tok._backend)
    return tok


def test_a_huge_text_is_read_only_as_far_as_its_tokens_need(tokenizer_dir):
    """Issue 21: a 9 MB title was tokenized whole before being cut to 34 tokens."""
    from m5mm.datasets.tokenizer import CHARS_PER_TOKEN
    tok = _spied(tokenizer_dir)
    huge = 'Red cotton T-shirt, brand Acme; battery 24 h. ' * 20_000   # 920,000 characters
    out = TokenizeText()(dict(value=huge, tokenizer=tok))['input_ids'].tolist()
    assert out == [tok.cls_id, *tok.encode(huge[:5000])[:34], tok.sep_id]
    assert max(tok._backend.lengths[:1]) <= 34 * CHARS_PER_TOKEN
    # any text: the same ids as tokenizing it whole, also when the cut falls inside a word
    words = 'Red cotton T-shirt 红色 棉 T恤 supercalifragilistic brand Acme'.split()
    for length in (0, 5, 200, 34 * CHARS_PER_TOKEN - 3, 34 * CHARS_PER_TOKEN + 7, 20_000):
        text = ' '.join(words[i % len(words)] for i in range(length))[:length]
        for max_length in (3, 36, 128):
            got = TokenizeText(max_length=max_length)(dict(value=text, tokenizer=tok))['input_ids'].tolist()
            assert got == [tok.cls_id, *tok.encode(text)[:max_length - 2], tok.sep_id], (length, max_length)
    assert tok.encode('x' * 10_000, max_tokens=2) == tok.encode('x' * (2 * CHARS_PER_TOKEN))[:2]  # no space: hard cut


def test_a_huge_table_is_tokenized_only_as_far_as_the_budget_needs(tokenizer_dir):
    from m5mm.datasets.tokenizer import CHARS_PER_TOKEN
    tok = _spied(tokenizer_dir)

    def whole(pairs, max_length):   # the reference: every text tokenized, then packed
        encoded = [(tok.encode(k), tok.encode(v)) for k, v in pairs]
        ids, seg, pid = pack_pairs(encoded, max_length - 2)
        return [tok.cls_id, *ids, tok.sep_id], [0, *seg, 0], [-1, *pid, -1]

    for huge, kept in (([('colour', 'red cotton ' * 100_000)] + [(f'key {i}', 'red') for i in range(50_000)], 1),
                       ([(f'key {i}', 'red cotton ' * 40) for i in range(50_000)], 3)):
        tok._backend.lengths.clear()
        out = TokenizeTable()(dict(value=huge, tokenizer=tok))
        assert len(tok._backend.lengths) <= 2 * 62 and max(tok._backend.lengths) <= 62 * CHARS_PER_TOKEN
        got = (out['input_ids'].tolist(), out['token_type_ids'].tolist(), out['pair_ids'].tolist())
        assert got == whole(huge[:kept], 64)
    # tables of every shape (empty texts, a first pair over the budget, short tables) pack as before
    rng = np.random.default_rng(0)
    texts = ['', ' ', 'red', 'Acme brand', 'cotton ' * 30, '24 h', '红色 棉']
    for _ in range(200):
        pairs = [(texts[rng.integers(len(texts))], texts[rng.integers(len(texts))])
                 for _ in range(rng.integers(0, 40))]
        max_length = int(rng.choice([3, 5, 8, 20, 64]))
        out = TokenizeTable(max_length=max_length)(dict(value=pairs, tokenizer=tok))
        got = (out['input_ids'].tolist(), out['token_type_ids'].tolist(), out['pair_ids'].tolist())
        assert got == whole(pairs, max_length), (pairs, max_length)


def test_compose_from_configs_and_registry_errors(data_root):
    pipeline = Compose(transforms=[dict(type='LoadImage'), dict(type='ResizeImage', size=8),
                                   dict(type='NormalizeImage')])
    assert pipeline(res(data_root / 'images/p2.jpg'))['pixels'].shape == (3, 8, 8)
    with pytest.raises(KeyError, match='not registered'):
        TRANSFORMS.build(dict(type='LoadImagee'))
    with pytest.raises(TypeError, match='unknown config key'):
        TRANSFORMS.build(dict(type='ResizeImage', sizee=3))
