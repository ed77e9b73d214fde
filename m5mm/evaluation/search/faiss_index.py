"""FAISS inner-product indexes: exact ``IndexFlatIP``, ``IndexIVFFlat``, ``IndexHNSWFlat`` and the int8
scalar quantiser ``IndexScalarQuantizer`` (``QT_8bit``, 1 byte per dimension)."""
from __future__ import annotations

import math
import os
from typing import Optional, Tuple

import numpy as np

from m5mm.utils.require import require

from .index_files import IndexFolderError

INDEX_FILE = 'index.faiss'
#: The constructor options a saved index's ``meta.json`` may name.
FAISS_OPTIONS = ('nlist', 'nprobe', 'hnsw_m', 'ef_construction', 'ef_search', 'train_size', 'seed')


def default_nlist(n: int) -> int:
    """IVF lists for n vectors: about 4 sqrt(n), with at least 39 training points per list."""
    return max(1, min(int(4 * math.sqrt(max(n, 1))), n // 39))


class FaissIndex:
    """A FAISS index by type: 'flat' (exact), 'ivf' (inverted lists), 'hnsw' (graph) or 'int8' (every
    vector scalar-quantised to 1 byte per dimension over the range of the first add; exhaustive search
    of the float query against the decoded codes).

    Args:
        dim: vector size. index_type: 'flat', 'ivf' or 'hnsw'.
        nlist: IVF lists (None = :func:`default_nlist` of the first add).
        nprobe: IVF lists visited per query (capped at nlist).
        hnsw_m: HNSW links per node. ef_construction, ef_search: HNSW beam widths.
        train_size: at most this many vectors train the IVF quantizer. seed: sampling seed.
    """

    index_types = ('flat', 'ivf', 'hnsw', 'int8')
    file_names = (INDEX_FILE,)

    def __init__(self, *, dim: int, index_type: str = 'flat', nlist: Optional[int] = None, nprobe: int = 32,
                 hnsw_m: int = 32, ef_construction: int = 80, ef_search: int = 64, train_size: int = 262144,
                 seed: int = 0) -> None:
        if index_type not in self.index_types:
            raise ValueError(f'index_type must be one of {self.index_types}, got {index_type!r}')
        self.faiss = require('faiss', 'faiss')
        self.dim, self.index_type = dim, index_type
        self.nlist, self.nprobe = nlist, nprobe
        self.hnsw_m, self.ef_construction, self.ef_search = hnsw_m, ef_construction, ef_search
        self.train_size, self.seed = train_size, seed
        self.index = None
        if index_type == 'flat':
            self.index = self.faiss.IndexFlatIP(dim)
        elif index_type == 'hnsw':
            self.index = self.faiss.IndexHNSWFlat(dim, hnsw_m, self.faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efConstruction = ef_construction

    @property
    def ntotal(self) -> int:
        """Number of indexed vectors."""
        return 0 if self.index is None else int(self.index.ntotal)

    def _make_ivf(self, vectors: np.ndarray) -> None:
        self.nlist = self.nlist or default_nlist(len(vectors))
        if len(vectors) < self.nlist:
            raise ValueError(f'an IVF index with nlist={self.nlist} needs at least that many vectors to '
                             f'train, got {len(vectors)}')
        quantizer = self.faiss.IndexFlatIP(self.dim)
        self.index = self.faiss.IndexIVFFlat(quantizer, self.dim, self.nlist, self.faiss.METRIC_INNER_PRODUCT)
        self.index.train(self._train_sample(vectors))
        self.index.make_direct_map()

    def _train_sample(self, vectors: np.ndarray) -> np.ndarray:
        if len(vectors) <= self.train_size:
            return vectors
        rows = np.random.default_rng(self.seed).choice(len(vectors), self.train_size, replace=False)
        return vectors[np.sort(rows)]

    def _make_int8(self, vectors: np.ndarray) -> None:
        self.index = self.faiss.IndexScalarQuantizer(self.dim, self.faiss.ScalarQuantizer.QT_8bit,
                                                     self.faiss.METRIC_INNER_PRODUCT)
        self.index.train(self._train_sample(vectors))

    def add(self, vectors: np.ndarray) -> None:
        """Append (N, D) float32 vectors (an IVF or int8 index is trained on its first add)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.index is None:
            (self._make_int8 if self.index_type == 'int8' else self._make_ivf)(vectors)
        self.index.add(vectors)

    def _set_search_params(self) -> None:
        if self.index_type == 'ivf':
            self.index.nprobe = min(self.nprobe, self.index.nlist)
        elif self.index_type == 'hnsw':
            self.index.hnsw.efSearch = max(self.ef_search, 1)

    def search(self, queries: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]:
        """(Q, D) queries -> scores (Q, k), indices (Q, k) (-1 where fewer results exist)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if self.ntotal == 0:
            return (np.full((len(queries), k), -np.inf, np.float32), np.full((len(queries), k), -1, np.int64))
        self._set_search_params()
        scores, indices = self.index.search(queries, k)
        scores[indices < 0] = -np.inf
        return scores, indices.astype(np.int64)

    def reconstruct(self, row: int) -> np.ndarray:
        """The stored vector of row ``row`` (D,)."""
        return self.index.reconstruct(int(row))

    def save(self, directory: str) -> None:
        """Write the index to ``directory/index.faiss``."""
        self.faiss.write_index(self.index, os.path.join(directory, INDEX_FILE))

    @classmethod
    def load(cls, directory: str, *, dim: int, index_type: str, **kwargs) -> 'FaissIndex':
        """Read an index written by :meth:`save`."""
        obj = cls(dim=dim, index_type=index_type, **kwargs)
        path = os.path.join(directory, INDEX_FILE)
        try:
            obj.index = obj.faiss.read_index(path)
        except RuntimeError as exc:   # FAISS reports a malformed file as a RuntimeError
            raise IndexFolderError(f'{path}: not a readable FAISS index ({str(exc).splitlines()[0]})') from None
        if obj.index.d != dim:
            raise IndexFolderError(f'{path}: vectors of size {obj.index.d}, meta.json says {dim}')
        if index_type == 'ivf':
            obj.nlist = obj.index.nlist
            obj.index.make_direct_map()
        return obj
