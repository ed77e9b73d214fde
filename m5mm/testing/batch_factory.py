"""A tiny collated multi-modal batch with missing modalities, for m5mm's tests and a plugin's.

``make_batch`` produces the batch layout of docs/concepts.md with tiny random tensors:
variable lengths (padding masked by ``attention_mask`` / ``frame_mask`` / ``feat_mask``),
absent samples (``present=False``, data zero-filled and masks all False, as the collate does)
and ``batch['meta']``. ``tiny_encoder_cfgs`` gives matching encoder configs and
``tiny_data_meta`` a matching dataset ``meta`` (tokenizer ids, classes).

Usage::

    from m5mm.testing import make_batch, tiny_encoder_cfgs
    batch = make_batch(4, absent={'audio': [0, 2]}, features=('video',))
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch
from torch import Tensor

from m5mm.structures import BUILTIN_MODALITIES

BUILTIN = BUILTIN_MODALITIES

# Tensor sizes of the tiny batch (every dimension small, patch/frame sizes divide them).
SIZES = dict(
    image_size=64,      # image pixels (B, 3, 64, 64): 16 patches of 16 px
    text_len=12,        # title tokens incl. [CLS]/[SEP]
    table_len=16,       # table tokens incl. [CLS]/[SEP]
    video_frames=4,     # frames (B, 4, 3, 32, 32)
    frame_size=32,
    audio_frames=24,    # mel (B, 24, 16): 6 tokens of 4 frames
    n_mels=16,
    feat_tokens=6,      # features (B, 6, 20)
    feat_dim=20,
    vocab_size=100,
    num_categories=3,
    num_instances=5,
)
# Special token ids, as the m5mm WordPiece tokenizer assigns them.
TOKENS = dict(pad_id=0, unk_id=1, cls_id=2, sep_id=3, mask_id=4)
FIRST_WORD_ID = 5

# Which samples miss which modality when ``absent`` is None (indices >= batch_size are dropped).
DEFAULT_ABSENT: Dict[str, List[int]] = {'image': [3], 'table': [1], 'video': [2], 'audio': [0, 2]}


def _lengths(gen: torch.Generator, batch_size: int, low: int, high: int) -> Tensor:
    """(B,) random lengths in [low, high]; sample 0 always has the full length ``high``."""
    lengths = torch.randint(low, high + 1, (batch_size,), generator=gen)
    lengths[0] = high
    return lengths


def _length_mask(lengths: Tensor, size: int) -> Tensor:
    """(B,) lengths -> (B, size) bool, True before each length."""
    return torch.arange(size)[None, :] < lengths[:, None]


def _text(gen: torch.Generator, present: Tensor, size: int) -> Dict[str, Tensor]:
    batch_size = present.numel()
    lengths = _lengths(gen, batch_size, 4, size) * present
    ids = torch.randint(FIRST_WORD_ID, SIZES['vocab_size'], (batch_size, size), generator=gen)
    mask = _length_mask(lengths, size)
    ids[:, 0] = TOKENS['cls_id']
    ids[torch.arange(batch_size), (lengths - 1).clamp(min=0)] = TOKENS['sep_id']
    ids = ids.masked_fill(~mask, TOKENS['pad_id'])
    return {'input_ids': ids, 'attention_mask': mask}


def _table(gen: torch.Generator, present: Tensor, size: int) -> Dict[str, Tensor]:
    """[CLS] k0 k0 v0 v0 v0 k1 v1 ... [SEP]: each pair has a 1-2 token key and a 1-3 token value."""
    batch_size = present.numel()
    entry = _text(gen, present, size)
    token_type = torch.zeros(batch_size, size, dtype=torch.long)
    pair_ids = torch.full((batch_size, size), -1, dtype=torch.long)
    for b in range(batch_size):
        length = int(entry['attention_mask'][b].sum())
        pos, pair, end = 1, 0, length - 1
        while end - pos >= 2:  # room for a key and a value
            key_len = min(int(torch.randint(1, 3, (1,), generator=gen)), end - pos - 1)
            val_len = min(int(torch.randint(1, 4, (1,), generator=gen)), end - pos - key_len)
            token_type[b, pos + key_len:pos + key_len + val_len] = 1
            pair_ids[b, pos:pos + key_len + val_len] = pair
            pos, pair = pos + key_len + val_len, pair + 1
        if pos < end:  # one token left: it extends the last value
            token_type[b, pos:end], pair_ids[b, pos:end] = 1, pair - 1
    entry.update(token_type_ids=token_type, pair_ids=pair_ids)
    return entry


def _frames_entry(gen: torch.Generator, present: Tensor, frames: int, key: str, mask_key: str,
                  shape: Sequence[int], low: int) -> Dict[str, Tensor]:
    """A padded sequence ``key`` (B, frames, *shape) with its (B, frames) mask ``mask_key``."""
    batch_size = present.numel()
    lengths = _lengths(gen, batch_size, low, frames) * present
    mask = _length_mask(lengths, frames)
    data = torch.randn(batch_size, frames, *shape, generator=gen)
    data = data * mask.view(batch_size, frames, *([1] * len(shape)))
    return {key: data, mask_key: mask}


def _modality(name: str, gen: torch.Generator, present: Tensor, as_features: bool) -> Dict[str, Tensor]:
    s = SIZES
    if as_features:
        return _frames_entry(gen, present, s['feat_tokens'], 'feats', 'feat_mask', (s['feat_dim'],), 2)
    if name == 'image':
        pixels = torch.randn(present.numel(), 3, s['image_size'], s['image_size'], generator=gen)
        return {'pixels': pixels * present.view(-1, 1, 1, 1)}
    if name == 'text':
        return _text(gen, present, s['text_len'])
    if name == 'table':
        return _table(gen, present, s['table_len'])
    if name == 'video':
        return _frames_entry(gen, present, s['video_frames'], 'frames', 'frame_mask',
                             (3, s['frame_size'], s['frame_size']), 2)
    if name == 'audio':
        return _frames_entry(gen, present, s['audio_frames'], 'mel', 'frame_mask', (s['n_mels'],), 9)
    raise ValueError(f'make_batch knows the modalities {BUILTIN} (or any name in `features`), got {name!r}')


def make_batch(batch_size: int = 4, *, seed: int = 0, absent: Optional[Dict[str, List[int]]] = None,
               modalities: Sequence[str] = BUILTIN, features: Sequence[str] = ()) -> dict:
    """A collated tiny batch (see module docstring).

    Args:
        batch_size: B.
        seed: seed of the data (same seed, same batch).
        absent: modality -> sample indices that miss it; None uses ``DEFAULT_ABSENT`` (for the
            modalities asked for),
            ``{}`` makes every modality present for every sample.
        modalities: the modality entries to produce.
        features: modalities given as pre-extracted features (``feats`` (B, N, F),
            ``feat_mask`` (B, N)) instead of raw data; may name modalities outside ``BUILTIN``.
    """
    gen = torch.Generator().manual_seed(seed)
    if absent is None:
        absent = {name: index for name, index in DEFAULT_ABSENT.items() if name in modalities}
    unknown = set(absent) - set(modalities)
    if unknown:
        raise ValueError(f'absent names modalities {sorted(unknown)} that are not in {list(modalities)}')
    batch: dict = {}
    for name in modalities:
        present = torch.ones(batch_size, dtype=torch.bool)
        present[[i for i in absent.get(name, []) if i < batch_size]] = False
        entry = _modality(name, gen, present, name in features)
        entry['present'] = present
        batch[name] = entry
    batch['meta'] = {
        'ids': [f'P{i:03d}' for i in range(batch_size)],
        'index': torch.arange(batch_size),
        'category': torch.randint(0, SIZES['num_categories'], (batch_size,), generator=gen),
        'instance': torch.randint(0, SIZES['num_instances'], (batch_size,), generator=gen),
        'errors': [{} for _ in range(batch_size)],
    }
    return batch


def tiny_data_meta(modalities: Sequence[str] = BUILTIN) -> dict:
    """The dataset ``meta`` matching :func:`make_batch` (what the trainer passes as ``data_meta``)."""
    return {
        'modalities': list(modalities),
        'tokenizer': dict(vocab_size=SIZES['vocab_size'], **TOKENS),
        'categories': [f'cat{i}' for i in range(SIZES['num_categories'])],
        'num_categories': SIZES['num_categories'],
        'num_instances': SIZES['num_instances'],
    }


def tiny_encoder_cfgs(dim: int = 32, *, modalities: Sequence[str] = BUILTIN,
                      features: Sequence[str] = ()) -> Dict[str, dict]:
    """modality -> ENCODERS config for the tensors of :func:`make_batch` (width ``dim``, depth 1)."""
    s = SIZES
    common = dict(dim=dim, depth=1, num_heads=2)
    bert = dict(vocab_size=s['vocab_size'], hidden_size=dim, num_layers=1, num_heads=2,
                intermediate_size=2 * dim, max_position=32, pad_token_id=TOKENS['pad_id'])
    cfgs = {
        'image': dict(type='ImagePatchEncoder', image_size=s['image_size'], patch_size=16, target_grid=2,
                      **common),
        'text': dict(type='TextBertEncoder', **bert),
        'table': dict(type='TableBertEncoder', **bert),
        'video': dict(type='VideoFrameEncoder', max_frames=8, **common,
                      frame_encoder=dict(type='ImagePatchEncoder', image_size=s['frame_size'], patch_size=16,
                                         **common)),
        'audio': dict(type='AudioMelEncoder', n_mels=s['n_mels'], patch_frames=4, max_tokens=16, **common),
    }
    out = {}
    for name in modalities:
        if name in features:
            out[name] = dict(type='FeatureEncoder', feat_dim=s['feat_dim'], max_tokens=16, **common)
        elif name in cfgs:
            out[name] = cfgs[name]
        else:
            raise ValueError(f'no tiny encoder config for {name!r}; name it in `features` (FeatureEncoder)')
    return out
