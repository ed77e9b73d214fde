"""Tiny pretrained models shaped for :func:`tests.test_models.batch_factory.make_batch`, written once per
process by their real ``save_pretrained``, and the pretrained-tower configs that read them."""
from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Dict

import torch

from tests.test_models.batch_factory import SIZES, TOKENS

TINY = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)


@functools.lru_cache(maxsize=None)
def tiny_tower_root() -> Path:
    """A folder with ``vit64`` (image), ``vit32`` (video frames), ``audio`` (wav2vec2-like, 16 samples per
    token = make_batch's 16 mel bins per frame) and ``bert`` (make_batch's vocabulary)."""
    from transformers import BertConfig, BertModel, ViTConfig, ViTModel, Wav2Vec2Config, Wav2Vec2FeatureExtractor, \
        Wav2Vec2Model
    root = Path(tempfile.mkdtemp(prefix='m5mm-tiny-towers-'))
    torch.manual_seed(0)
    for name, size in (('vit64', SIZES['image_size']), ('vit32', SIZES['frame_size'])):
        vit = ViTModel(ViTConfig(image_size=size, patch_size=16, **TINY), add_pooling_layer=False)
        vit.save_pretrained(root / name)
    audio = Wav2Vec2Config(conv_dim=(16,) * 4, conv_stride=(2,) * 4, conv_kernel=(2,) * 4, feat_extract_norm='layer',
                           num_conv_pos_embeddings=4, num_conv_pos_embedding_groups=2, vocab_size=8, **TINY)
    Wav2Vec2Model(audio).save_pretrained(root / 'audio')
    Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained(root / 'audio')
    bert = BertConfig(vocab_size=SIZES['vocab_size'], max_position_embeddings=32, pad_token_id=TOKENS['pad_id'], **TINY)
    BertModel(bert, add_pooling_layer=False).save_pretrained(root / 'bert')
    return root


def pretrained_tower_cfgs() -> Dict[str, dict]:
    """encoder name -> config of a pretrained tower on the tiny models (frozen towers; LoRA text)."""
    root = tiny_tower_root()
    tail = dict(dim=32, depth=1, num_heads=2, freeze=True)
    text = dict(pretrained=str(root / 'bert'), vocab_size=SIZES['vocab_size'], pad_token_id=TOKENS['pad_id'],
                lora=dict(r=2))
    return {'PretrainedImageEncoder': dict(type='PretrainedImageEncoder', pretrained=str(root / 'vit64'), **tail),
            'PretrainedVideoEncoder': dict(type='PretrainedVideoEncoder', pretrained=str(root / 'vit32'), **tail),
            'PretrainedAudioEncoder': dict(type='PretrainedAudioEncoder', pretrained=str(root / 'audio'), **tail),
            'PretrainedTextEncoder': dict(type='PretrainedTextEncoder', **text),
            'PretrainedTableEncoder': dict(type='PretrainedTableEncoder', **text)}
