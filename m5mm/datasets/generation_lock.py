"""Generate a file or folder once across processes: the lock that makes distributed ranks take turns."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator, Union

from filelock import FileLock


@contextlib.contextmanager
def generation_lock(target: Union[str, Path]) -> Iterator[None]:
    """Hold an exclusive inter-process lock on ``target + '.lock'`` for the block.

    The public "generate once across ranks" hook: check whether ``target`` exists *inside* the
    block and write it only if not, so that ranks starting together generate it once and the
    others read the result::

        with generation_lock(data_root):
            if not os.path.isfile(os.path.join(data_root, 'manifest.jsonl')):
                write_catalogue(data_root)

    ``ManifestDataset`` (``generate_if_missing``) and the tokenizer use it with the data root and
    the tokenizer folder as ``target``, so a plugin that locks the same ``target`` takes turns with
    them. A ``filelock.FileLock`` (``fcntl.flock`` on POSIX); the lock file is left in place.
    """
    path = os.path.abspath(target).rstrip(os.sep) + '.lock'
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with FileLock(path):
        yield
