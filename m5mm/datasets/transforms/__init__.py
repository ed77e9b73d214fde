"""Per-modality loading and preprocessing steps (the ``TRANSFORMS`` registry)."""
from .compose import Compose
from .decode_video_frames import DecodeVideoFrames
from .load_audio_mel import LoadAudioMel
from .load_feature import LoadFeature
from .load_image import LoadImage
from .normalize_image import NormalizeImage
from .random_flip_image import RandomFlipImage
from .resize_image import ResizeImage
from .sample_video_frames import SampleVideoFrames
from .tokenize_table import TokenizeTable
from .tokenize_text import TokenizeText

__all__ = ['Compose', 'DecodeVideoFrames', 'LoadAudioMel',
           'LoadFeature', 'LoadImage', 'NormalizeImage', 'RandomFlipImage',
           'ResizeImage', 'SampleVideoFrames', 'TokenizeTable', 'TokenizeText']
