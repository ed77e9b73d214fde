"""Pictures and clips of the emoji listings.

A listing's *scene* is the emoji's glyph (Noto Color Emoji, with its form's look and a colour
jitter), scaled, rotated and placed on a random background (plain, gradient, stripes, checks, dots
or a soft texture); the photo is a random crop of the scene, the clip a pan/zoom over it. Each
function draws its jitter from the generator it is given, so a record's files depend only on its
seed (and on the installed font, Pillow and espeak-ng).
"""
from __future__ import annotations

import functools
from typing import Optional

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from .design import HUES
from .sources import load_font

SCENE_SIZE = 192
IMAGE_SIZE = 128
VIDEO_SIZE = 64
VIDEO_FRAMES = 12
VIDEO_FPS = 4
BACKGROUNDS = ('plain', 'gradient', 'stripes', 'checks', 'dots', 'texture')


@functools.lru_cache(maxsize=2048)
def render_glyph(font_path: str, chars: str) -> Optional[Image.Image]:
    """The emoji's RGBA bitmap cropped to its pixels, or None when the font has no picture for it."""
    font = load_font(font_path)
    canvas = Image.new('RGBA', (2 * font.size, 2 * font.size), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((font.size // 4, font.size // 4), chars, font=font, embedded_color=True)
    box = canvas.getchannel('A').getbbox()
    return None if box is None else canvas.crop(box)


@functools.lru_cache(maxsize=4096)
def glyph_color(font_path: str, chars: str) -> str:
    """:func:`dominant_color` of the emoji's glyph (which must exist)."""
    return dominant_color(render_glyph(font_path, chars).reduce(2))


def dominant_color(glyph: Image.Image) -> str:
    """The colour name of the glyph's main hue (black / white / grey when it is mostly unsaturated)."""
    rgba = np.asarray(glyph, dtype=np.float64)
    opaque = rgba[..., 3] > 128
    hsv = np.asarray(glyph.convert('RGB').convert('HSV'), dtype=np.float64)[opaque] / 255
    if len(hsv) == 0:
        return 'white'
    chromatic = (hsv[:, 1] > 0.25) & (hsv[:, 2] > 0.2)
    if chromatic.mean() < 0.4:
        value = hsv[:, 2].mean()
        return 'black' if value < 0.3 else 'grey' if value < 0.75 else 'white'
    bounds, names = zip(*HUES)
    labels = np.array(names + ('brown',))
    hue, value = hsv[chromatic, 0] * 360, hsv[chromatic, 2]
    index = np.searchsorted(np.array(bounds), hue, side='right')
    saturation = hsv[chromatic, 1]
    dull = (value < 0.55) | ((value < 0.8) & (saturation < 0.7))
    index[np.isin(labels[index], ('red', 'orange')) & dull] = len(names)   # dark or dull red/orange: brown
    counts = np.bincount(index, minlength=len(labels))
    return str(labels[int(np.argmax(counts))])


def _styled_glyph(rng: np.random.Generator, glyph: Image.Image, look: str) -> Image.Image:
    """The glyph with its form's look (a white die-cut outline, a round base or a drop shadow)."""
    pad = 14
    base = Image.new('RGBA', (glyph.width + 2 * pad, glyph.height + 2 * pad), (0, 0, 0, 0))
    alpha = Image.new('L', base.size, 0)
    alpha.paste(glyph.getchannel('A'), (pad, pad))
    if look == 'outline':
        grown = alpha.filter(ImageFilter.GaussianBlur(3)).point(lambda v: 255 if v > 24 else 0)
        base.paste((255, 255, 255, 255), mask=grown)
    elif look == 'disc':
        tint = tuple(int(v) for v in rng.integers(150, 256, size=3)) + (255,)
        ImageDraw.Draw(base).ellipse([2, 2, base.width - 3, base.height - 3], fill=tint, outline=(90, 90, 90, 255),
                                     width=3)
    else:
        shadow = alpha.filter(ImageFilter.GaussianBlur(4)).point(lambda v: v // 2)
        base.paste((0, 0, 0, 255), (5, 6), mask=shadow.crop((0, 0, base.width - 5, base.height - 6)))
    jittered = ImageEnhance.Brightness(glyph).enhance(rng.uniform(0.85, 1.15))
    jittered = ImageEnhance.Contrast(jittered).enhance(rng.uniform(0.85, 1.15))
    jittered = ImageEnhance.Color(jittered).enhance(rng.uniform(0.8, 1.2))
    base.alpha_composite(jittered, (pad, pad))
    return base


def _background(rng: np.random.Generator, size: int) -> Image.Image:
    """A random (size, size) RGB backdrop: one of :data:`BACKGROUNDS`."""
    kind = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    first, second = rng.uniform(60, 250, size=3), rng.uniform(60, 250, size=3)
    ramp = np.arange(size, dtype=np.float32) / size
    xx, yy = ramp[None, :], ramp[:, None]
    if kind == 'plain':
        weight = np.zeros((size, size), dtype=np.float32)
    elif kind == 'gradient':
        angle = rng.uniform(0, 2 * np.pi)
        weight = np.clip((xx - 0.5) * np.cos(angle) + (yy - 0.5) * np.sin(angle) + 0.5, 0, 1)
    elif kind == 'stripes':
        angle, period = rng.uniform(0, np.pi), rng.uniform(0.08, 0.25)
        weight = ((xx * np.cos(angle) + yy * np.sin(angle)) / period % 1.0 < 0.5).astype(np.float32)
    elif kind == 'checks':
        period = rng.uniform(0.08, 0.2)
        weight = ((xx // period + yy // period) % 2).astype(np.float32)
    elif kind == 'dots':
        period = rng.uniform(0.08, 0.16)
        weight = (np.hypot(xx % period - period / 2, yy % period - period / 2) < period / 4).astype(np.float32)
    else:
        coarse = Image.fromarray(rng.integers(0, 256, size=(6, 6)).astype(np.uint8))
        weight = np.asarray(coarse.resize((size, size), Image.BICUBIC), dtype=np.float32) / 255
    weight = weight[..., None]
    pixels = first * (1 - weight) + second * weight + 3 * rng.standard_normal((size, size, 3), dtype=np.float32)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode='RGB')


def render_scene(rng: np.random.Generator, *, glyph: Image.Image, look: str) -> Image.Image:
    """The listing's (SCENE_SIZE, SCENE_SIZE) RGB scene: the styled glyph scaled, rotated and placed."""
    scene = _background(rng, SCENE_SIZE)
    item = _styled_glyph(rng, glyph, look)
    side = rng.uniform(0.45, 0.85) * SCENE_SIZE
    item = item.resize((max(1, round(side * item.width / max(item.size))),
                        max(1, round(side * item.height / max(item.size)))), Image.LANCZOS)
    item = item.rotate(rng.uniform(-25, 25), resample=Image.BICUBIC, expand=True)
    centre = SCENE_SIZE / 2 + rng.uniform(-0.15, 0.15, size=2) * SCENE_SIZE
    scene.paste(item, (round(centre[0] - item.width / 2), round(centre[1] - item.height / 2)), mask=item)
    return scene


def render_image(rng: np.random.Generator, scene: Image.Image) -> np.ndarray:
    """The listing photo: a random crop (75-100% of the side) of ``scene`` -> (IMAGE_SIZE, IMAGE_SIZE, 3) uint8."""
    side = rng.uniform(0.75, 1.0) * SCENE_SIZE
    x, y = rng.uniform(0, SCENE_SIZE - side, size=2)
    photo = scene.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR, box=(x, y, x + side, y + side))
    pixels = np.asarray(photo, dtype=np.float64) + rng.normal(0, 4, size=(IMAGE_SIZE, IMAGE_SIZE, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8)


def render_video(rng: np.random.Generator, scene: Image.Image) -> np.ndarray:
    """A pan/zoom from one window of ``scene`` to another -> (VIDEO_FRAMES, VIDEO_SIZE, VIDEO_SIZE, 3) uint8."""
    sides = rng.uniform(0.55, 1.0, size=2) * SCENE_SIZE
    corners = [rng.uniform(0, SCENE_SIZE - s, size=2) for s in sides]
    frames = np.empty((VIDEO_FRAMES, VIDEO_SIZE, VIDEO_SIZE, 3), dtype=np.uint8)
    for k, t in enumerate(np.linspace(0, 1, VIDEO_FRAMES)):
        ease = t * t * (3 - 2 * t)
        side = sides[0] + (sides[1] - sides[0]) * ease
        x, y = corners[0] + (corners[1] - corners[0]) * ease
        frames[k] = np.asarray(scene.resize((VIDEO_SIZE, VIDEO_SIZE), Image.BILINEAR, box=(x, y, x + side, y + side)))
    return frames
