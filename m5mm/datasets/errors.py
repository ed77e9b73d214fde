"""Errors raised while reading product data.

:class:`MediaError` is the one exception the datasets catch: a media file that cannot be
used makes its modality absent for that sample (logged and counted), never a crash.
:class:`ManifestError` reports a malformed manifest or meta file with its location.
"""
from __future__ import annotations

from typing import Optional

# Short, fixed reasons so counts aggregate across samples (details go to the log).
MISSING_FILE = 'missing file'
UNREADABLE_FILE = 'unreadable file'
PATH_ESCAPES_ROOT = 'path escapes data root'


class MediaError(Exception):
    """A media or feature file that cannot be loaded.

    Args:
        reason: a short category such as ``'missing file'`` or ``'corrupt image'`` (counted).
        detail: the underlying message (logged, not counted).
    """

    def __init__(self, reason: str, detail: Optional[str] = None) -> None:
        super().__init__(reason if not detail else f'{reason}: {detail}')
        self.reason = reason
        self.detail = detail or ''

    def __reduce__(self):  # keep both fields through pickling (DataLoader workers)
        return (type(self), (self.reason, self.detail))


class ManifestError(ValueError):
    """A malformed line or entry of a manifest / meta file; the message names file and place."""
