"""Per-modality loading and preprocessing steps (the ``TRANSFORMS`` registry)."""
from .compose import Compose
from .decode_video_frames import DecodeVideoFrames
from .load_audio_mel import LoadAudioMel
from .load_cached_feature import LoadCachedFeature
from .load_feature import LoadFeature
from .load_image import LoadImage
from .normalize_image import NormalizeImage
from .process_audio import ProcessAudio
from .process_image import ProcessImage
from .process_video_frames import ProcessVideoFrames
from .random_flip_image import RandomFlipImage
from .resize_image import ResizeImage
from .sample_video_frames import SampleVideoFrames
from .tokenize_table import TokenizeTable
from .tokenize_text import TokenizeText

__all__ = ['Compose', 'DecodeVideoFrames', 'LoadAudioMel', 'LoadCachedFeature', 'LoadFeature', 'LoadImage',
           'NormalizeImage', 'ProcessAudio', 'ProcessImage', 'ProcessVideoFrames', 'RandomFlipImage', 'ResizeImage',
           'SampleVideoFrames', 'TokenizeTable', 'TokenizeText']
