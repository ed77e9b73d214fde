"""Decode uniformly sampled, low-resolution video frames."""
from __future__ import annotations

from typing import List, Sequence

from m5mm.registry import TRANSFORMS

from .decode_video_frames import DecodeVideoFrames
from .image_size import Size, size_meta, to_hw
from .normalize_image import IMAGENET_MEAN, IMAGENET_STD, normalize


@TRANSFORMS.register_module()
class SampleVideoFrames:
    """``results['path']`` -> ``results['frames']`` (T, 3, H, W) float32, standardised.

    decord decodes directly at ``size`` (its width/height arguments), so large videos stay cheap.

    Args:
        num_frames: frames sampled uniformly over the clip (fewer if the clip is shorter);
            the paper uses up to 12 (1 fps).
        size: decoded frame size, int or (height, width).
        mean: per-channel mean for standardisation.
        std: per-channel std.
        jitter: sample a random frame within each segment (from the sample seed) instead of
            the segment centre (training augmentation).
    """

    def __init__(self, *, num_frames: int = 4, size: Size = 64, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD, jitter: bool = False) -> None:
        if num_frames < 1:
            raise ValueError(f'num_frames must be >= 1, got {num_frames}')
        self.num_frames = num_frames
        self.size = to_hw(size)
        self.mean = tuple(mean)
        self.std = tuple(std)
        self.jitter = jitter

    reads_bytes = True

    def stages(self) -> List[dict]:
        """The same work as two steps, decoding (uint8, storable in shards) then standardising."""
        return [dict(type='DecodeVideoFrames', num_frames=self.num_frames, size=self.size, jitter=self.jitter),
                dict(type='NormalizeImage', mean=self.mean, std=self.std, key='frames')]

    def __call__(self, results: dict) -> dict:
        results = DecodeVideoFrames(num_frames=self.num_frames, size=self.size, jitter=self.jitter)(results)
        results['frames'] = normalize(results['frames'], self.mean, self.std)
        return results

    def output_meta(self) -> dict:
        """``image_size`` of the output, for the model's encoder (see :meth:`Compose.output_meta`)."""
        return size_meta(self.size)

    def __repr__(self) -> str:
        return f'SampleVideoFrames(num_frames={self.num_frames}, size={self.size}, jitter={self.jitter})'
