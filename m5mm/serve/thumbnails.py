"""Product thumbnails, read only from inside the catalogue folder and re-encoded as small JPEGs."""
from __future__ import annotations

import io
import os
from typing import Optional

from m5mm.datasets.errors import MediaError
from m5mm.datasets.paths import resolve_media_path

THUMBNAIL_SIZE = 256


def inside_root(data_root: str, relative: str) -> Optional[str]:
    """The real path of ``relative`` if it (links resolved) is a file inside ``data_root``, else None."""
    try:
        path = resolve_media_path(data_root, relative)
    except MediaError:
        return None
    root = os.path.realpath(data_root)
    real = os.path.realpath(path)
    if os.path.commonpath([root, real]) != root or not os.path.isfile(real):
        return None
    return real


def make_thumbnail(data_root: str, relative: str, *, size: int = THUMBNAIL_SIZE) -> Optional[bytes]:
    """JPEG bytes of the image at ``relative`` (inside ``data_root``) fitted in ``size`` x ``size``; None
    when it is outside the folder, missing or not a decodable image."""
    from PIL import Image
    path = inside_root(data_root, relative)
    if path is None:
        return None
    try:
        with Image.open(path) as img:
            img.draft('RGB', (size, size))
            img = img.convert('RGB')
            img.thumbnail((size, size))
            buffer = io.BytesIO()
            img.save(buffer, format='JPEG', quality=85)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return buffer.getvalue()
