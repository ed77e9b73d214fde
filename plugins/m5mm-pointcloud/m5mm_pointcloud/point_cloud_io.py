"""Reading point-cloud files: ``.npy`` arrays and ASCII ``.ply``; failures become ``MediaError``."""
from __future__ import annotations

import os
from typing import List, Tuple

import numpy as np

from m5mm.datasets import MediaError
from m5mm.datasets.transforms.decode import check_file

CORRUPT = 'corrupt point cloud'
UNSUPPORTED = 'unsupported point cloud'
MAX_HEADER_LINES = 256
PLY_VERTEX = 'vertex'


def read_point_file(path: str) -> np.ndarray:
    """(N, C) float64 array of a ``.npy`` or ASCII ``.ply`` file, C >= 3 with x, y, z first.

    Raises:
        MediaError: ``'missing file'``, ``'empty file'``, ``'corrupt point cloud'`` or
            ``'unsupported point cloud'`` (another extension, a binary PLY).
    """
    check_file(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix == '.npy':
        points = _read_npy(path)
    elif suffix == '.ply':
        points = _read_ply(path)
    else:
        raise MediaError(UNSUPPORTED, f'{path}: expected a .npy or .ply file')
    if points.ndim != 2 or points.shape[1] < 3:
        raise MediaError(CORRUPT, f'{path}: expected an (N, 3) array, got shape {points.shape}')
    return points


def _read_npy(path: str) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as exc:  # ValueError / OSError / EOFError on a bad header or a short file
        raise MediaError(CORRUPT, f'{path}: {str(exc)[:200]}') from None
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.number):
        raise MediaError(CORRUPT, f'{path}: not a numeric array')
    return array.astype(np.float64, copy=False)


def _parse_header(lines: List[str], path: str) -> Tuple[List[Tuple[str, int, List[str]]], int]:
    """PLY header lines -> ([(element, count, property names)], number of header lines)."""
    if not lines or lines[0].strip() != 'ply':
        raise MediaError(CORRUPT, f'{path}: not a PLY file (no "ply" magic line)')
    elements: List[Tuple[str, int, List[str]]] = []
    for number, line in enumerate(lines[1:], 2):
        words = line.split()
        if not words or words[0] in ('comment', 'obj_info'):
            continue
        if words[0] == 'format' and (len(words) < 2 or words[1] != 'ascii'):
            raise MediaError(UNSUPPORTED, f'{path}: only ASCII PLY is read, got format '
                                          f'{" ".join(words[1:2])!r}; convert it or save a .npy')
        elif words[0] == 'element' and len(words) == 3 and words[2].isdigit():
            elements.append((words[1], int(words[2]), []))
        elif words[0] == 'property' and elements:
            elements[-1][2].append('list' if words[1] == 'list' else words[-1])
        elif words[0] == 'end_header':
            return elements, number
        elif words[0] != 'format':
            raise MediaError(CORRUPT, f'{path}: unexpected PLY header line {line.strip()[:60]!r}')
    raise MediaError(CORRUPT, f'{path}: no end_header in the first {MAX_HEADER_LINES} lines')


def _read_ply(path: str) -> np.ndarray:
    try:
        with open(path, 'rb') as handle:
            head = [handle.readline().decode('ascii', errors='replace') for _ in range(MAX_HEADER_LINES)]
            elements, header_lines = _parse_header(head, path)
            handle.seek(0)
            body = handle.read().decode('ascii', errors='replace').splitlines()[header_lines:]
    except OSError as exc:
        raise MediaError(CORRUPT, f'{path}: {exc}') from None
    start = 0
    for name, count, props in elements:
        if name != PLY_VERTEX:
            start += count  # ASCII: one line per item of an element
            continue
        missing = [axis for axis in 'xyz' if axis not in props]
        if missing or 'list' in props:
            raise MediaError(CORRUPT, f'{path}: vertex element needs scalar x, y, z; has {props}')
        rows = body[start:start + count]
        try:
            values = np.array(' '.join(rows).split(), dtype=np.float64)
            values = values.reshape(count, len(props))
        except ValueError as exc:
            raise MediaError(CORRUPT, f'{path}: {count} vertices of {len(props)} values expected '
                                      f'({str(exc)[:100]})') from None
        return values[:, [props.index(axis) for axis in 'xyz']]
    raise MediaError(CORRUPT, f'{path}: no vertex element')


def write_ply(path: str, points: np.ndarray) -> None:
    """Write (N, 3) ``points`` as an ASCII PLY (for tests and data preparation)."""
    points = np.asarray(points, dtype=np.float64)
    header = ['ply', 'format ascii 1.0', f'element vertex {len(points)}', 'property float x',
              'property float y', 'property float z', 'end_header']
    with open(path, 'w', encoding='ascii') as handle:
        handle.write('\n'.join(header) + '\n')
        handle.writelines(f'{x:.6f} {y:.6f} {z:.6f}\n' for x, y, z in points)
