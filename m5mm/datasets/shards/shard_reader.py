"""Reading the samples of one WebDataset shard (members grouped by key), tolerating damage."""
from __future__ import annotations

import tarfile
import zlib
from typing import Callable, Dict, Iterator, Optional, Tuple

from webdataset.tariterators import base_plus_ext, tar_file_iterator

READ_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error, ValueError)


class ShardDamaged(Exception):
    """A shard ended early or could not be read past some point (the message says why)."""


def iter_shard(path: str, *, wanted: Optional[Callable[[str], bool]] = None
               ) -> Iterator[Tuple[str, Dict[str, bytes]]]:
    """Yield ``(key, {suffix: bytes})`` of each sample of the tar file ``path``, in file order.

    Args:
        wanted: key -> whether to read that sample's data; the other members are skipped without
            being read into memory (the tar stream still passes over their bytes).

    Raises:
        ShardDamaged: after the samples read so far, when the file is truncated or corrupt; the
            members of the sample being read when the damage was found are yielded first (the
            caller checks whether they are complete, see ``sample_codec.is_complete``).
    """
    def select(fname: str) -> bool:
        key, _ = base_plus_ext(fname)
        return key is not None and (wanted is None or wanted(key))

    current: Optional[str] = None
    members: Dict[str, bytes] = {}
    try:
        with open(path, 'rb') as handle:
            for item in tar_file_iterator(handle, select_files=select):
                key, suffix = base_plus_ext(item['fname'])
                if key != current:
                    if current is not None:
                        yield current, members
                    current, members = key, {}
                members[suffix] = item['data']
    except READ_ERRORS as exc:
        if current is not None:
            yield current, members
        raise ShardDamaged(f'{path}: {type(exc).__name__}: {str(exc)[:200]}') from None
    if current is not None:
        yield current, members
