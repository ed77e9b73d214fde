"""Tiny random models of every supported family, written by their real ``save_pretrained``.

``make_tiny_pretrained(out)`` writes ``out/<family>/`` folders (weights, config, and the
processor / feature extractor / tokenizer files the pipelines read), so the whole pretrained
path (``pretrained=`` loading, preprocessing from the processor config, freezing, LoRA,
caching) runs offline on the demo data, and the tests load them exactly as hub models.
Widths are 32, depths 2: each model has a few ten thousand parameters.
"""
from __future__ import annotations

import os
from typing import Callable, Dict, List, Optional, Sequence

import torch

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
IMAGE_SIZE = 64
AUDIO_CONV = dict(conv_dim=(16,) * 7, conv_stride=(5, 2, 2, 2, 2, 2, 2), conv_kernel=(10, 3, 3, 3, 3, 2, 2),
                  num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)


def _image_processor(cls_name: str, **kwargs):
    import transformers
    defaults = dict(size={'height': IMAGE_SIZE, 'width': IMAGE_SIZE}, do_center_crop=False)
    defaults.update(kwargs)
    return getattr(transformers, cls_name)(**defaults)


def _vit():
    from transformers import ViTConfig, ViTModel
    return ViTModel(ViTConfig(image_size=IMAGE_SIZE, patch_size=16, **TINY)), _image_processor('ViTImageProcessor')


def _clip():
    from transformers import CLIPConfig, CLIPModel
    text = dict(vocab_size=100, max_position_embeddings=16, bos_token_id=0, eos_token_id=2, pad_token_id=1, **TINY)
    config = CLIPConfig(text_config=text, vision_config=dict(image_size=IMAGE_SIZE, patch_size=16, **TINY),
                        projection_dim=16)
    processor = _image_processor('CLIPImageProcessor', size={'shortest_edge': IMAGE_SIZE}, do_center_crop=True,
                                 crop_size={'height': IMAGE_SIZE, 'width': IMAGE_SIZE})
    return CLIPModel(config), processor


def _siglip():
    from transformers import SiglipConfig, SiglipModel
    text = dict(vocab_size=100, max_position_embeddings=16, **TINY)
    config = SiglipConfig(text_config=text, vision_config=dict(image_size=IMAGE_SIZE, patch_size=16, **TINY))
    return SiglipModel(config), _image_processor('SiglipImageProcessor')


def _dinov2():
    from transformers import Dinov2Config, Dinov2Model
    config = Dinov2Config(image_size=IMAGE_SIZE, patch_size=16, **TINY)
    processor = _image_processor('BitImageProcessor', size={'shortest_edge': IMAGE_SIZE}, do_center_crop=True,
                                 crop_size={'height': IMAGE_SIZE, 'width': IMAGE_SIZE})
    return Dinov2Model(config), processor


def _convnext():
    from transformers import ConvNextConfig, ConvNextModel
    config = ConvNextConfig(num_stages=2, hidden_sizes=[16, 32], depths=[1, 1], image_size=IMAGE_SIZE)
    return ConvNextModel(config), _image_processor('ConvNextImageProcessor', size={'shortest_edge': IMAGE_SIZE})


def _videomae():
    from transformers import VideoMAEConfig, VideoMAEModel
    config = VideoMAEConfig(image_size=IMAGE_SIZE, patch_size=16, num_frames=4, tubelet_size=2, **TINY)
    return VideoMAEModel(config), _image_processor('VideoMAEImageProcessor', size={'shortest_edge': IMAGE_SIZE},
                                                   do_center_crop=True,
                                                   crop_size={'height': IMAGE_SIZE, 'width': IMAGE_SIZE})


def _wav2vec2():
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model
    config = Wav2Vec2Config(vocab_size=32, **TINY, **AUDIO_CONV)
    return Wav2Vec2Model(config), Wav2Vec2FeatureExtractor(return_attention_mask=False)


def _hubert():
    from transformers import HubertConfig, HubertModel, Wav2Vec2FeatureExtractor
    config = HubertConfig(vocab_size=32, feat_extract_norm='layer', do_stable_layer_norm=True, **TINY, **AUDIO_CONV)
    return HubertModel(config), Wav2Vec2FeatureExtractor(return_attention_mask=True)


def _ast():
    from transformers import ASTConfig, ASTFeatureExtractor, ASTModel
    config = ASTConfig(patch_size=16, frequency_stride=10, time_stride=10, max_length=256, num_mel_bins=32, **TINY)
    return ASTModel(config), ASTFeatureExtractor(num_mel_bins=32, max_length=256)


def _whisper():
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel
    config = WhisperConfig(d_model=32, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2,
                           decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_mel_bins=80,
                           max_source_positions=200, max_target_positions=32, vocab_size=100, pad_token_id=0,
                           bos_token_id=1, eos_token_id=2, decoder_start_token_id=1)
    return WhisperModel(config), WhisperFeatureExtractor(feature_size=80, chunk_length=4)


def _bert():
    from transformers import BertConfig, BertModel
    from .tokenizers import wordpiece_tokenizer
    tokenizer = wordpiece_tokenizer()
    config = BertConfig(vocab_size=len(tokenizer), max_position_embeddings=128, pad_token_id=tokenizer.pad_token_id,
                        **TINY)
    return BertModel(config, add_pooling_layer=False), tokenizer


def _xlmr():
    from transformers import XLMRobertaConfig, XLMRobertaModel
    from .tokenizers import unigram_tokenizer
    tokenizer = unigram_tokenizer()
    config = XLMRobertaConfig(vocab_size=len(tokenizer), max_position_embeddings=130, type_vocab_size=1,
                              pad_token_id=1, bos_token_id=0, eos_token_id=2, **TINY)
    return XLMRobertaModel(config, add_pooling_layer=False), tokenizer


def _timm_vit():
    import timm
    args = dict(img_size=IMAGE_SIZE, patch_size=16, embed_dim=32, depth=2, num_heads=2)
    return timm.create_model('vit_tiny_patch16_224', pretrained=False, num_classes=0, **args), args


#: family -> (modality, builder returning (model, processor or tokenizer))
FAMILIES: Dict[str, tuple] = {
    'vit': ('image', _vit), 'clip': ('image', _clip), 'siglip': ('image', _siglip), 'dinov2': ('image', _dinov2),
    'convnext': ('image', _convnext), 'timm_vit': ('image', _timm_vit), 'videomae': ('video', _videomae),
    'wav2vec2': ('audio', _wav2vec2), 'hubert': ('audio', _hubert), 'ast': ('audio', _ast),
    'whisper': ('audio', _whisper), 'bert': ('text', _bert), 'xlmr': ('text', _xlmr),
}


def make_tiny_model(family: str, out_dir: str, *, seed: int = 0) -> str:
    """Write the tiny model of ``family`` (and its processor/tokenizer) to ``out_dir``; returns it."""
    if family not in FAMILIES:
        raise ValueError(f'unknown tiny model family {family!r}; choose from {sorted(FAMILIES)}')
    torch.manual_seed(seed)
    build: Callable = FAMILIES[family][1]
    model, extra = build()
    os.makedirs(out_dir, exist_ok=True)
    if family.startswith('timm_'):
        from timm.models import _hub
        _hub.save_for_hf(model, out_dir, model_args=extra, safe_serialization=True)
        return out_dir
    model.save_pretrained(out_dir)
    extra.save_pretrained(out_dir)
    return out_dir


def make_tiny_pretrained(out: str, families: Optional[Sequence[str]] = None, *, seed: int = 0) -> List[str]:
    """Write every family (or ``families``) to ``out/<family>``; returns the folders."""
    return [make_tiny_model(f, os.path.join(out, f), seed=seed) for f in (families or sorted(FAMILIES))]
