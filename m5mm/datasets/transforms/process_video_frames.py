"""Decode video frames at a pretrained model's input size, normalised with its statistics."""
from __future__ import annotations

from typing import Optional

import torch

from m5mm.models.pretrained.processors import image_spec
from m5mm.registry import TRANSFORMS

from .decode import decode_video
from .normalize_image import normalize
from .randomness import sample_rng

DEFAULT_FRAMES = 8


def model_num_frames(pretrained: str) -> Optional[int]:
    """``num_frames`` of a native video model's config (None for image models)."""
    from m5mm.models.pretrained.loading import is_timm_folder, load_config, model_modality
    from m5mm.utils.pretrained_source import resolve_pretrained
    folder = resolve_pretrained(pretrained, what='video tower')
    if is_timm_folder(folder):
        return None
    config = load_config(folder, pretrained)
    return int(config.num_frames) if model_modality(config) == 'video' else None


@TRANSFORMS.register_module()
class ProcessVideoFrames:
    """``results['path']`` -> ``results['frames']`` (T, 3, h, w) float32 for a pretrained video tower.

    decord decodes ``num_frames`` uniformly sampled frames straight at the model's input size
    (its processor's crop size, or timm's ``input_size``); they are scaled to [0, 1] and
    normalised with the processor's mean and std.

    Args:
        pretrained: the video tower's model (folder or hub id): a video model or an image model.
        num_frames: frames per clip (None: a video model's ``num_frames``, else 8).
        jitter: a random frame in each segment (from the sample seed) instead of its centre.
    """

    def __init__(self, *, pretrained: str, num_frames: Optional[int] = None, jitter: bool = False) -> None:
        self.pretrained = pretrained
        self.spec = image_spec(pretrained)
        native = model_num_frames(pretrained)
        if native is not None and num_frames not in (None, native):
            raise ValueError(f'{pretrained!r} is a video model of {native} frames; num_frames={num_frames} differs')
        self.num_frames = num_frames or native or DEFAULT_FRAMES
        self.jitter = jitter

    def __call__(self, results: dict) -> dict:
        rng = sample_rng(results, 'ProcessVideoFrames') if self.jitter else None
        frames = decode_video(results['path'], num_frames=self.num_frames, size=self.spec.size, rng=rng)
        pixels = torch.from_numpy(frames).permute(0, 3, 1, 2)
        results['frames'] = normalize(pixels, self.spec.mean, self.spec.std)
        return results

    def __repr__(self) -> str:
        return (f'ProcessVideoFrames(pretrained={self.pretrained!r}, num_frames={self.num_frames}, '
                f'size={self.spec.size}, jitter={self.jitter})')
