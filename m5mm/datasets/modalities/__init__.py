"""Modality specs (the ``MODALITIES`` registry, one entry per modality name)."""
from .audio_modality import AudioModality
from .base_modality import PAD_ID, KeySpec, ModalitySpec
from .image_modality import ImageModality
from .table_modality import TableModality, parse_pv, parse_table
from .text_modality import TextModality
from .video_modality import VideoModality

__all__ = ['AudioModality', 'ImageModality', 'KeySpec', 'ModalitySpec', 'PAD_ID', 'TableModality',
           'TextModality', 'VideoModality', 'parse_pv', 'parse_table']
