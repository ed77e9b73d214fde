"""Running a pipeline that only reads files (a plugin's loader) on a shard member's bytes."""
from __future__ import annotations

import os
import tempfile
from typing import Callable, Sequence


def run_on_temp_file(transforms: Sequence[Callable], results: dict) -> dict:
    """Write ``results['data']`` to a temporary file named like the member, point ``results['path']``
    at it, run ``transforms`` and delete the file."""
    data = results.pop('data')
    suffix = os.path.splitext(results['path'])[1]
    handle, path = tempfile.mkstemp(prefix='m5mm_shard_', suffix=suffix)
    try:
        with os.fdopen(handle, 'wb') as out:
            out.write(data)
        results['path'] = path
        for transform in transforms:
            results = transform(results)
        return results
    finally:
        os.unlink(path)
