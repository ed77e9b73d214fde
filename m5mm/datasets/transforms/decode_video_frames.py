"""Decode uniformly sampled, low-resolution video frames, kept as uint8."""
from __future__ import annotations

import torch

from m5mm.registry import TRANSFORMS

from .decode import decode_video
from .image_size import Size, size_meta, to_hw
from .randomness import sample_rng


@TRANSFORMS.register_module()
class DecodeVideoFrames:
    """``results['path']`` (or ``results['data']``) -> ``results['frames']`` (T, 3, H, W) uint8.

    The decoding half of :class:`~m5mm.datasets.transforms.SampleVideoFrames` (which adds the
    standardisation); shards store its output so that training never decodes mp4.

    Args:
        num_frames: frames sampled uniformly over the clip (fewer if the clip is shorter).
        size: decoded frame size, int or (height, width).
        jitter: a random frame within each segment (from the sample seed) instead of its centre.
    """

    reads_bytes = True

    def __init__(self, *, num_frames: int = 4, size: Size = 64, jitter: bool = False) -> None:
        if num_frames < 1:
            raise ValueError(f'num_frames must be >= 1, got {num_frames}')
        self.num_frames = num_frames
        self.size = to_hw(size)
        self.jitter = jitter

    @property
    def build_time(self) -> bool:
        """Deterministic (may run when shards are built) unless frames are jittered per epoch."""
        return not self.jitter

    def __call__(self, results: dict) -> dict:
        rng = sample_rng(results, 'SampleVideoFrames') if self.jitter else None
        frames = decode_video(results['path'], num_frames=self.num_frames, size=self.size, rng=rng,
                              data=results.get('data'))
        results['frames'] = torch.from_numpy(frames).permute(0, 3, 1, 2)  # (T, 3, H, W) uint8
        return results

    def output_meta(self) -> dict:
        """``image_size`` of the output, for the model's encoder (see :meth:`Compose.output_meta`)."""
        return size_meta(self.size)

    def __repr__(self) -> str:
        return f'DecodeVideoFrames(num_frames={self.num_frames}, size={self.size}, jitter={self.jitter})'
