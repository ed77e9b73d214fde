"""Per-modality encoders (ENCODERS registry): each returns an ``EncoderOutput``."""
from .audio_mel_encoder import AudioMelEncoder
from .base_encoder import ContinuousEncoder, EncoderInputError, build_projection, random_token_mask
from .feature_encoder import FeatureEncoder
from .image_backbone_encoder import ImageBackboneEncoder
from .image_patch_encoder import ImagePatchEncoder
from .table_bert_encoder import TableBertEncoder
from .text_bert_encoder import TextBertEncoder
from .video_frame_encoder import VideoFrameEncoder

__all__ = ['AudioMelEncoder', 'ContinuousEncoder', 'EncoderInputError', 'FeatureEncoder',
           'ImageBackboneEncoder', 'ImagePatchEncoder', 'TableBertEncoder', 'TextBertEncoder',
           'VideoFrameEncoder', 'build_projection', 'random_token_mask']
