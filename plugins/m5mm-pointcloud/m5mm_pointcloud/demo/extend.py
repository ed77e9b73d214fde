"""Adding a point cloud to every record of an existing m5mm demo catalogue.

The cloud shows the 3D primitive of the record's category (the demo design's ``shape``, see
:mod:`.shapes`; a category the design does not know gets a primitive from a hash of its name),
stretched by an aspect and sized by a scale that belong to the SKU, turned by a random yaw,
with Gaussian jitter, a few outliers, a random point count, ``factor_noise_rate`` of the
records showing another primitive and ``missing_rate`` of them without a cloud (null field).
Everything is drawn from generators seeded by ``(seed, record id)`` or ``(seed, SKU)``.

The manifest is rewritten atomically (the original is kept as ``manifest.before_pointcloud.jsonl``)
and ``pointclouds/extension.json`` records what was done; a second call with the same options
on the manifest it wrote does nothing.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import zlib
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from m5mm.datasets import generation_lock

from .shapes import PRIMITIVES, SHAPE_TO_PRIMITIVE, sample_primitive

FIELD = 'pointcloud'
FOLDER = 'pointclouds'
MARKER = 'extension.json'
BACKUP = 'manifest.before_pointcloud.jsonl'
MANIFEST = 'manifest.jsonl'
FORMAT_VERSION = 1
POINTS_RANGE = (384, 1024)   # points per cloud, drawn per record
JITTER = 0.02                # Gaussian noise, fraction of the object's size
OUTLIER_RATE = 0.02          # share of points replaced by uniform outliers in the bounding box


def _demo_primitives() -> Dict[str, str]:
    from m5mm.experiments.catalogues.demo import CATEGORIES
    return {c.name: SHAPE_TO_PRIMITIVE[c.shape] for c in CATEGORIES}


def category_primitive(category: Optional[str]) -> str:
    """The primitive of a category: the demo design's shape, else one chosen by a hash of the name."""
    known = _demo_primitives()
    if category in known:
        return known[category]
    return PRIMITIVES[zlib.crc32(str(category or '').encode()) % len(PRIMITIVES)]


def _stable_rng(seed: int, *keys: str) -> np.random.Generator:
    return np.random.default_rng([seed] + [zlib.crc32(k.encode()) for k in keys])


def _yaw(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def render_point_cloud(*, primitive: str, seed: int, record_id: str, instance: Optional[str]) -> np.ndarray:
    """(P, 3) float32 points of one record: the SKU's scale and aspect, the record's pose and noise."""
    sku = _stable_rng(seed, 'sku', str(instance if instance is not None else record_id))
    scale, aspect = sku.uniform(0.5, 2.0), sku.uniform(0.7, 1.3, size=3)
    rng = _stable_rng(seed, 'record', record_id)
    num = int(rng.integers(*POINTS_RANGE, endpoint=True))
    points = sample_primitive(rng, primitive, num) * aspect
    points = points @ _yaw(rng.uniform(0, 2 * np.pi)).T
    points += rng.normal(scale=JITTER, size=points.shape)
    outliers = rng.random(num) < OUTLIER_RATE
    low, high = points.min(axis=0), points.max(axis=0)
    points[outliers] = rng.uniform(low, high, size=(int(outliers.sum()), 3))
    return (points * scale + rng.uniform(-1, 1, size=3)).astype(np.float32)


def _file_name(record_id: str) -> str:
    safe = re.sub(r'[^A-Za-z0-9._-]', '_', record_id)
    return f'{safe}.npy' if safe == record_id else f'{safe}-{zlib.crc32(record_id.encode()):08x}.npy'


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _plan(record: dict, seed: int, missing_rate: float,
          factor_noise_rate: float) -> Tuple[Optional[str], bool]:
    """(primitive or None when the record gets no cloud, whether the primitive is a wrong one)."""
    rng = _stable_rng(seed, 'plan', str(record['id']))
    if rng.random() < missing_rate:
        return None, False
    primitive = category_primitive(record.get('category'))
    if rng.random() < factor_noise_rate:
        others = [p for p in PRIMITIVES if p != primitive]
        return others[int(rng.integers(len(others)))], True
    return primitive, False


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + '.tmp')
    with open(tmp, 'w', encoding='utf-8') as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _read_marker(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text(encoding='utf-8'))
    except (OSError, ValueError):
        return None


def add_pointclouds(data_root: Union[str, Path], *, seed: int = 0, missing_rate: float = 0.1,
                    factor_noise_rate: float = 0.1, force: bool = False) -> dict:
    """Give every record of ``data_root/manifest.jsonl`` a ``pointcloud`` field (see module docstring).

    Args:
        data_root: a catalogue written by ``tools/make_demo_data.py`` (any m5mm manifest works).
        seed: seed of every drawn number.
        missing_rate: share of records left without a point cloud.
        factor_noise_rate: share of clouds showing another category's primitive.
        force: redo it even when ``pointclouds/extension.json`` says it is done.

    Returns:
        The summary (records, clouds written, missing, wrong primitives, per-primitive counts),
        also stored in ``pointclouds/extension.json``.
    """
    for name, rate in (('missing_rate', missing_rate), ('factor_noise_rate', factor_noise_rate)):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f'{name} must be in [0, 1], got {rate}')
    root = Path(data_root)
    manifest = root / MANIFEST
    if not manifest.is_file():
        raise FileNotFoundError(f'no {MANIFEST} in {root}: write a demo catalogue first '
                                f'(python tools/make_demo_data.py --out {root}), or use '
                                f'python -m m5mm_pointcloud.make_demo {root} --generate 400')
    options = dict(format=FORMAT_VERSION, seed=seed, missing_rate=missing_rate,
                   factor_noise_rate=factor_noise_rate)
    marker_path = root / FOLDER / MARKER
    (root / FOLDER).mkdir(exist_ok=True)
    with generation_lock(root / FOLDER):  # ranks generating at once take turns
        marker = _read_marker(marker_path)
        if not force and marker and marker.get('options') == options \
                and marker.get('manifest_sha256') == _sha256(manifest):
            return marker['summary']
        summary, text, extended_before = _extend(root, manifest, seed=seed, missing_rate=missing_rate,
                                                 factor_noise_rate=factor_noise_rate)
        backup = root / BACKUP
        if not backup.exists() or not extended_before:  # keep the manifest as it was before any cloud
            _write_atomic(backup, manifest.read_text(encoding='utf-8'))
        _write_atomic(manifest, text)
        _write_atomic(marker_path, json.dumps(dict(options=options, manifest_sha256=_sha256(manifest),
                                                   summary=summary), indent=1) + '\n')
    return summary


def _extend(root: Path, manifest: Path, *, seed: int, missing_rate: float,
            factor_noise_rate: float) -> Tuple[dict, str, bool]:
    """Write the clouds; return (summary, new manifest text, whether it had the field already)."""
    lines: List[str] = []
    counts: Counter = Counter()
    wrong: List[str] = []
    extended_before = False
    for line in manifest.read_text(encoding='utf-8').splitlines():
        try:
            record = json.loads(line) if line.strip() else None
        except ValueError:
            record = None
        if not isinstance(record, dict) or 'id' not in record:
            lines.append(line)  # blank or malformed: left for the dataset to report
            continue
        extended_before |= FIELD in record
        primitive, is_wrong = _plan(record, seed, missing_rate, factor_noise_rate)
        record[FIELD] = None
        if primitive is not None:
            relative = f'{FOLDER}/{_file_name(str(record["id"]))}'
            cloud = render_point_cloud(primitive=primitive, seed=seed, record_id=str(record['id']),
                                       instance=record.get('instance'))
            np.save(root / relative, cloud)
            record[FIELD] = relative
            counts[primitive] += 1
            if is_wrong:
                wrong.append(str(record['id']))
        counts['records'] += 1
        lines.append(json.dumps(record, ensure_ascii=False))
    with_cloud = sum(counts[p] for p in PRIMITIVES)
    summary = dict(num_records=counts['records'], with_pointcloud=with_cloud,
                   missing=counts['records'] - with_cloud, wrong_primitive=wrong,
                   primitives={p: counts[p] for p in PRIMITIVES if counts[p]})
    return summary, '\n'.join(lines) + '\n', extended_before
