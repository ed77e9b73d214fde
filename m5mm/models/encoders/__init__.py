"""Per-modality encoders (ENCODERS registry): each returns an ``EncoderOutput``.

The helpers an encoder plugin uses (``fetch``, ``fetch_mask``, ``fetch_present``, ``zero_invalid``,
``EncoderInputError``, ``ContinuousEncoder``, ``TokenEncoder``) are importable from this package.
"""
from .audio_mel_encoder import AudioMelEncoder
from .continuous_encoder import ContinuousEncoder
from .encoder_utils import (EncoderInputError, build_projection, fetch, fetch_mask, fetch_present, masked_mean,
                            random_token_mask, zero_invalid)
from .feature_encoder import FeatureEncoder
from .image_backbone_encoder import ImageBackboneEncoder
from .image_patch_encoder import ImagePatchEncoder
from .pretrained_audio_encoder import PretrainedAudioEncoder
from .pretrained_image_encoder import PretrainedImageEncoder
from .pretrained_table_encoder import PretrainedTableEncoder
from .pretrained_text_encoder import PretrainedTextEncoder
from .pretrained_tower_encoder import PretrainedTowerEncoder
from .pretrained_video_encoder import PretrainedVideoEncoder
from .table_bert_encoder import TableBertEncoder
from .text_bert_encoder import TextBertEncoder
from .token_encoder import TokenEncoder
from .video_frame_encoder import VideoFrameEncoder

__all__ = ['AudioMelEncoder', 'ContinuousEncoder', 'EncoderInputError', 'FeatureEncoder',
           'ImageBackboneEncoder', 'ImagePatchEncoder', 'PretrainedAudioEncoder', 'PretrainedImageEncoder',
           'PretrainedTableEncoder', 'PretrainedTextEncoder', 'PretrainedTowerEncoder', 'PretrainedVideoEncoder',
           'TableBertEncoder', 'TextBertEncoder', 'TokenEncoder', 'VideoFrameEncoder', 'build_projection', 'fetch',
           'fetch_mask', 'fetch_present', 'masked_mean', 'random_token_mask', 'zero_invalid']
