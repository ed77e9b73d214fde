"""Exact inner-product index without FAISS: the vectors in memory, chunked fp32 matmul + top-k."""
from __future__ import annotations

import os
from typing import Tuple

import numpy as np
import torch

from ..topk import DEFAULT_GALLERY_CHUNK, DEFAULT_QUERY_CHUNK, exact_topk
from .index_files import IndexFolderError, load_plain_array

VECTORS_FILE = 'vectors.npy'
#: The constructor options a saved index's ``meta.json`` may name.
TORCH_OPTIONS = ('query_chunk', 'gallery_chunk')


class TorchExactIndex:
    """Exact search over (N, D) float32 vectors; ties ranked by insertion order.

    Args:
        dim: vector size. query_chunk, gallery_chunk: block sizes of the search.
    """

    index_types = ('flat',)

    file_names = (VECTORS_FILE,)

    def __init__(self, *, dim: int, query_chunk: int = DEFAULT_QUERY_CHUNK,
                 gallery_chunk: int = DEFAULT_GALLERY_CHUNK) -> None:
        self.dim = dim
        self.query_chunk = query_chunk
        self.gallery_chunk = gallery_chunk
        self.vectors = torch.empty((0, dim), dtype=torch.float32)

    @property
    def ntotal(self) -> int:
        """Number of indexed vectors."""
        return self.vectors.shape[0]

    def add(self, vectors: np.ndarray) -> None:
        """Append (N, D) float32 vectors."""
        self.vectors = torch.cat([self.vectors, torch.from_numpy(np.ascontiguousarray(vectors, np.float32))])

    def search(self, queries: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]:
        """(Q, D) queries -> scores (Q, k), indices (Q, k) (-1 past the end of a small index)."""
        q = torch.from_numpy(np.ascontiguousarray(queries, np.float32))
        scores = np.full((q.shape[0], k), -np.inf, dtype=np.float32)
        indices = np.full((q.shape[0], k), -1, dtype=np.int64)
        if self.ntotal:
            s, i = exact_topk(q, self.vectors, k, query_chunk=self.query_chunk,
                              gallery_chunk=self.gallery_chunk)
            scores[:, :s.shape[1]], indices[:, :i.shape[1]] = s.numpy(), i.numpy()
        return scores, indices

    def reconstruct(self, row: int) -> np.ndarray:
        """The stored vector of row ``row`` (D,)."""
        return self.vectors[row].numpy().copy()

    def save(self, directory: str) -> None:
        """Write the vectors to ``directory/vectors.npy``."""
        np.save(os.path.join(directory, VECTORS_FILE), self.vectors.numpy(), allow_pickle=False)

    @classmethod
    def load(cls, directory: str, *, dim: int, **kwargs) -> 'TorchExactIndex':
        """Read an index written by :meth:`save`."""
        index = cls(dim=dim, **kwargs)
        path = os.path.join(directory, VECTORS_FILE)
        vectors = load_plain_array(path, ndim=2, kind='f')
        if vectors.shape[1] != dim:
            raise IndexFolderError(f'{path}: vectors of size {vectors.shape[1]}, meta.json says {dim}')
        index.add(vectors)
        return index
