"""A product search index over exported gallery features, saved to disk with its ids.

``SearchIndex.build(features, ids, index_type='flat'|'ivf'|'hnsw')`` indexes (N, D) vectors;
``search(vectors, topk)`` ranks them for new feature vectors, ``search_by_id(id)`` for a
product already in the index. Backends: FAISS (``IndexFlatIP`` exact, ``IndexIVFFlat``,
``IndexHNSWFlat``; compressed: ``int8``, a scalar quantiser of 1 byte per dimension, and ``binary``,
1 bit per dimension re-scored with int8 codes, see :mod:`.binary_index`) or, for the exact type,
m5mm's chunked torch search, which needs no FAISS (``backend='auto'`` takes FAISS when it is installed).
Scores are inner products (``metric='cosine'`` L2-normalises vectors on the way in).

On disk (``save(directory)``): ``meta.json`` (type, backend, metric, dim, count, options, and the size
and sha256 of every other file, checked by :meth:`SearchIndex.load` before it parses any of them),
``ids.npy`` and ``index.faiss`` or ``vectors.npy`` (binary: ``index.faiss_binary``, ``codes.npy``,
``scale.npy``).
"""
from __future__ import annotations

import importlib.util
import json
import logging
import numbers
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from m5mm.utils.files import read_json
from m5mm.version import __version__

from .binary_index import BINARY_OPTIONS, BinaryRescoreIndex
from .faiss_index import FAISS_OPTIONS, FaissIndex
from .index_files import IndexFolderError, describe_index_files, load_plain_array, verify_index_files
from .torch_exact_index import TORCH_OPTIONS, TorchExactIndex

logger = logging.getLogger(__name__)

META_FILE, IDS_FILE = 'meta.json', 'ids.npy'
BACKENDS = ('auto', 'faiss', 'torch')
INDEX_METRICS = ('ip', 'cosine')
INDEX_TYPES = ('flat', 'ivf', 'hnsw', 'int8', 'binary')


@dataclass
class SearchResult:
    """Ranked results: ``ids[q]`` (best first), ``scores`` and ``indices`` (Q, k) (-1 / -inf when missing)."""

    ids: List[List[str]]
    scores: np.ndarray
    indices: np.ndarray


def resolve_backend(backend: str, index_type: str) -> str:
    """'faiss' or 'torch' for ``backend`` ('auto' prefers FAISS when installed)."""
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
    if index_type not in INDEX_TYPES:
        raise ValueError(f'index_type must be one of {INDEX_TYPES}, got {index_type!r}')
    if backend == 'auto':
        has_faiss = importlib.util.find_spec('faiss') is not None
        backend = 'faiss' if has_faiss or index_type != 'flat' else 'torch'
        if backend == 'torch':
            logger.info('FAISS is not installed: using the exact torch search (pip install "m5mm[faiss]")')
    if backend == 'torch' and index_type != 'flat':
        raise ValueError(f"index_type {index_type!r} needs FAISS (backend='faiss'); "
                         'the torch backend is exact only')
    return backend


def index_class(backend: str, index_type: str) -> type:
    """The class that holds an index of ``index_type`` for a resolved ``backend``."""
    if backend == 'torch':
        return TorchExactIndex
    return BinaryRescoreIndex if index_type == 'binary' else FaissIndex


def index_options(backend: str, index_type: str) -> tuple:
    """The option names an index of ``index_type`` takes (those ``meta.json`` may record)."""
    if backend == 'torch':
        return TORCH_OPTIONS
    return BINARY_OPTIONS if index_type == 'binary' else FAISS_OPTIONS


class SearchIndex:
    """Inner-product search over product feature vectors, addressed by product id.

    Args:
        dim: vector size. index_type: 'flat' (exact), 'ivf' or 'hnsw' (approximate), 'int8' or 'binary'
            (compressed: 1 byte / 1 bit per dimension; binary re-scores ``rescore`` x k candidates).
        metric: 'ip' (inner product) or 'cosine'. backend: 'auto', 'faiss' or 'torch'.
        options: backend options (FAISS: nlist, nprobe, hnsw_m, ef_construction, ef_search,
            train_size, seed; binary: rescore; torch: query_chunk, gallery_chunk).
    """

    def __init__(self, *, dim: int, index_type: str = 'flat', metric: str = 'ip', backend: str = 'auto',
                 **options) -> None:
        if metric not in INDEX_METRICS:
            raise ValueError(f'metric must be one of {INDEX_METRICS}, got {metric!r}')
        self.dim, self.index_type, self.metric = dim, index_type, metric
        self.backend = resolve_backend(backend, index_type)
        self.options = options
        extra = dict(index_type=index_type) if index_class(self.backend, index_type) is FaissIndex else {}
        self.index = index_class(self.backend, index_type)(dim=dim, **extra, **options)
        self.ids: List[str] = []
        self._rows: Dict[str, List[int]] = {}

    @classmethod
    def build(cls, features, ids: Sequence[str], **kwargs) -> 'SearchIndex':
        """An index over ``features`` (N, D) named by ``ids`` (N,); kwargs as the constructor."""
        features = np.asarray(features)
        if features.ndim != 2:
            raise ValueError(f'features must be (N, D), got shape {features.shape}')
        index = cls(dim=features.shape[1], **kwargs)
        index.add(features, ids)
        return index

    def _prepare(self, vectors) -> np.ndarray:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim == 1:
            vectors = vectors[None]
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f'vectors must be (D,) or (Q, D) with D = {self.dim}, got shape {vectors.shape}')
        if not np.isfinite(vectors).all():
            raise ValueError('vectors contain NaN or infinite values')
        if self.metric == 'cosine':
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(vectors)

    def add(self, features, ids: Sequence[str]) -> None:
        """Append (N, D) ``features`` named by ``ids``."""
        vectors = self._prepare(features)
        if len(ids) != len(vectors):
            raise ValueError(f'{len(ids)} ids for {len(vectors)} vectors')
        start = len(self.ids)
        self.index.add(vectors)
        for offset, pid in enumerate(ids):
            self._rows.setdefault(str(pid), []).append(start + offset)
        self.ids.extend(str(i) for i in ids)

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, pid: str) -> bool:
        return str(pid) in self._rows

    def vector(self, pid: str) -> np.ndarray:
        """The indexed vector (D,) of product ``pid`` (normalised under 'cosine')."""
        if str(pid) not in self._rows:
            raise KeyError(f'id {pid!r} is not in the index ({len(self)} products)')
        return self.index.reconstruct(self._rows[str(pid)][0])

    def search(self, vectors, topk: int = 10, *, exclude_ids: Optional[Sequence[Optional[str]]] = None
               ) -> SearchResult:
        """Top ``topk`` products for each of (Q, D) (or (D,)) ``vectors``.

        Args:
            exclude_ids: per query, an id left out of its results (e.g. the query product).
        """
        queries = self._prepare(vectors)
        if topk < 1:
            raise ValueError(f'topk must be >= 1, got {topk}')
        if exclude_ids is not None and len(exclude_ids) != len(queries):
            raise ValueError(f'{len(exclude_ids)} exclude_ids for {len(queries)} queries')
        extra = max((len(self._rows.get(str(e), ())) for e in exclude_ids or () if e is not None), default=0)
        scores, indices = self.index.search(queries, topk + extra)
        if extra:
            scores, indices = self._drop_excluded(scores, indices, exclude_ids, topk)
        ids = [[self.ids[i] for i in row if i >= 0] for row in indices]
        return SearchResult(ids=ids, scores=scores, indices=indices)

    def _drop_excluded(self, scores: np.ndarray, indices: np.ndarray, exclude_ids: Sequence[Optional[str]],
                       topk: int) -> Tuple[np.ndarray, np.ndarray]:
        out_s = np.full((len(indices), topk), -np.inf, dtype=np.float32)
        out_i = np.full((len(indices), topk), -1, dtype=np.int64)
        for q, excluded in enumerate(exclude_ids):
            banned = set(self._rows.get(str(excluded), ())) if excluded is not None else set()
            keep = [j for j, i in enumerate(indices[q]) if i >= 0 and i not in banned][:topk]
            out_s[q, :len(keep)], out_i[q, :len(keep)] = scores[q, keep], indices[q, keep]
        return out_s, out_i

    def search_by_id(self, pid: str, topk: int = 10, *, include_self: bool = False) -> SearchResult:
        """Top ``topk`` products like indexed product ``pid`` (itself left out unless ``include_self``)."""
        return self.search(self.vector(pid), topk, exclude_ids=None if include_self else [pid])

    def save(self, directory: str) -> str:
        """Write the index, its ids and ``meta.json`` (with each file's size and sha256) into ``directory``."""
        os.makedirs(directory, exist_ok=True)
        self.index.save(directory)
        np.save(os.path.join(directory, IDS_FILE), np.asarray(self.ids, dtype=np.str_), allow_pickle=False)
        options = dict(self.options)
        if self.index_type == 'ivf':
            options['nlist'] = self.index.nlist
        meta = dict(m5mm_version=__version__, index_type=self.index_type, backend=self.backend,
                    metric=self.metric, dim=self.dim, count=len(self), options=options,
                    files=describe_index_files(directory, [IDS_FILE, *self.index.file_names]))
        with open(os.path.join(directory, META_FILE), 'w') as f:
            json.dump(meta, f, indent=2)
        return directory

    @classmethod
    def load(cls, directory: str) -> 'SearchIndex':
        """Read an index written by :meth:`save`; :class:`IndexFolderError` naming the file that is wrong."""
        meta_path = os.path.join(directory, META_FILE)
        if not os.path.isfile(meta_path):
            raise FileNotFoundError(f'{directory!r} is not an m5mm search index (no {META_FILE})')
        meta = _checked_meta(read_json(meta_path, error=IndexFolderError), meta_path)
        if 'files' in meta:
            verify_index_files(directory, meta['files'])
        else:
            logger.warning('m5mm: %s lists no file digests (written before m5mm 0.3): its files are not verified; '
                           'rebuild the index to have them checked', meta_path)
        obj = cls(dim=meta['dim'], index_type=meta['index_type'], metric=meta['metric'],
                  backend=meta['backend'], **meta['options'])
        backend_cls = index_class(obj.backend, obj.index_type)
        extra = dict(index_type=obj.index_type) if backend_cls is FaissIndex else {}
        obj.index = backend_cls.load(directory, dim=obj.dim, **extra, **meta['options'])
        ids = [str(i) for i in load_plain_array(os.path.join(directory, IDS_FILE), ndim=1, kind='U')]
        if len(ids) != obj.index.ntotal:
            raise IndexFolderError(f'{directory}: {len(ids)} ids for {obj.index.ntotal} indexed vectors')
        obj.ids = ids
        for row, pid in enumerate(ids):
            obj._rows.setdefault(pid, []).append(row)
        return obj


def _checked_meta(meta: Any, path: str) -> dict:
    """``meta.json``'s values, checked for type and known names before any reaches a constructor."""
    if not isinstance(meta, dict):
        raise IndexFolderError(f'{path}: expected a JSON object')
    checks = dict(index_type=lambda v: v in INDEX_TYPES, metric=lambda v: v in INDEX_METRICS,
                  backend=lambda v: v in ('faiss', 'torch'),
                  dim=lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
                  options=lambda v: isinstance(v, dict))
    for key, ok in checks.items():
        if key not in meta or not ok(meta[key]):
            raise IndexFolderError(f'{path}: missing or invalid {key!r}: {meta.get(key)!r}')
    allowed = index_options(meta['backend'], meta['index_type'])
    for key, value in meta['options'].items():
        if key not in allowed or not (value is None or isinstance(value, numbers.Real)):
            raise IndexFolderError(f'{path}: unknown or invalid option {key!r}={value!r} for the {meta["backend"]} '
                                   f'backend (known: {", ".join(allowed)})')
    return meta
