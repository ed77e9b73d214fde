"""Binary product vectors with re-scoring: 1 bit per dimension in memory, int8 codes on disk.

Search is two stages (as in sentence-transformers' binary quantisation): the Hamming distance between
the sign bits of the query and of every product (FAISS ``IndexBinaryFlat``) picks ``rescore`` x k
candidates, whose int8 codes (a per-dimension min/max scalar quantiser, read through a memory map)
are scored against the float query by inner product; the top k of those are returned.
"""
from __future__ import annotations

import os
from typing import Optional, Tuple

import numpy as np

from m5mm.utils.require import require

from .index_files import IndexFolderError, load_plain_array

BINARY_FILE, CODES_FILE, SCALE_FILE = 'index.faiss_binary', 'codes.npy', 'scale.npy'
#: The constructor options a saved index's ``meta.json`` may name.
BINARY_OPTIONS = ('rescore',)


def sign_bits(vectors: np.ndarray) -> np.ndarray:
    """(N, D) float -> (N, ceil(D / 8)) uint8: bit d is 1 where ``vectors[:, d] > 0`` (zero-padded)."""
    return np.packbits(np.asarray(vectors) > 0, axis=1)


class ScalarQuantizer8:
    """Per-dimension min/max to uint8: ``x ~ low + (code + 0.5) * step`` with ``step = (high - low) / 256``.

    Args:
        low, high: (D,) the range of each dimension (of the vectors it was fitted on).
    """

    def __init__(self, *, low: np.ndarray, high: np.ndarray) -> None:
        self.low = np.asarray(low, np.float32)
        self.step = np.maximum(np.asarray(high, np.float32) - self.low, 1e-12) / 256.0

    @classmethod
    def fit(cls, vectors: np.ndarray) -> 'ScalarQuantizer8':
        """The quantiser of ``vectors``' per-dimension range."""
        return cls(low=vectors.min(axis=0), high=vectors.max(axis=0))

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        """(N, D) float -> (N, D) uint8 (values outside the fitted range are clipped)."""
        return np.clip(np.floor((vectors - self.low) / self.step), 0, 255).astype(np.uint8)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """(..., D) uint8 -> (..., D) float32."""
        return self.low + (codes.astype(np.float32) + 0.5) * self.step


class BinaryRescoreIndex:
    """Sign-bit Hamming search re-scored with int8 codes (see the module docstring).

    Args:
        dim: vector size.
        rescore: candidates per result taken from the Hamming search (``rescore * k``).
    """

    index_types = ('binary',)
    file_names = (BINARY_FILE, CODES_FILE, SCALE_FILE)

    def __init__(self, *, dim: int, rescore: int = 10) -> None:
        self.faiss = require('faiss', 'faiss')
        if rescore < 1:
            raise ValueError(f'rescore must be >= 1, got {rescore}')
        self.dim, self.rescore = dim, int(rescore)
        self.bits = self.faiss.IndexBinaryFlat(8 * ((dim + 7) // 8))
        self.quantizer: Optional[ScalarQuantizer8] = None
        self.codes = np.empty((0, dim), np.uint8)

    @property
    def ntotal(self) -> int:
        """Number of indexed vectors."""
        return int(self.bits.ntotal)

    def add(self, vectors: np.ndarray) -> None:
        """Append (N, D) float32 vectors (the int8 range is fitted on the first add)."""
        vectors = np.ascontiguousarray(vectors, np.float32)
        if self.quantizer is None:
            self.quantizer = ScalarQuantizer8.fit(vectors)
        self.bits.add(sign_bits(vectors))
        self.codes = np.concatenate([np.asarray(self.codes), self.quantizer.encode(vectors)])

    def search(self, queries: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]:
        """(Q, D) queries -> scores (Q, k), indices (Q, k) (-1 / -inf where fewer results exist)."""
        queries = np.ascontiguousarray(queries, np.float32)
        scores = np.full((len(queries), k), -np.inf, np.float32)
        indices = np.full((len(queries), k), -1, np.int64)
        if self.ntotal == 0:
            return scores, indices
        count = min(self.ntotal, self.rescore * k)
        _, candidates = self.bits.search(sign_bits(queries), count)       # (Q, C) by Hamming distance
        vectors = self.quantizer.decode(np.asarray(self.codes)[candidates])  # (Q, C, D)
        exact = np.einsum('qcd,qd->qc', vectors, queries)
        order = np.argsort(-exact, axis=1, kind='stable')[:, :k]
        top = min(k, count)
        scores[:, :top] = np.take_along_axis(exact, order, axis=1)
        indices[:, :top] = np.take_along_axis(candidates, order, axis=1)
        return scores, indices

    def reconstruct(self, row: int) -> np.ndarray:
        """The int8-decoded vector of row ``row`` (D,)."""
        return self.quantizer.decode(np.asarray(self.codes[int(row)]))

    def save(self, directory: str) -> None:
        """Write the bits, the int8 codes and the quantiser's range into ``directory``."""
        self.faiss.write_index_binary(self.bits, os.path.join(directory, BINARY_FILE))
        np.save(os.path.join(directory, CODES_FILE), np.asarray(self.codes), allow_pickle=False)
        scale = np.stack([self.quantizer.low, self.quantizer.low + 256.0 * self.quantizer.step])
        np.save(os.path.join(directory, SCALE_FILE), scale, allow_pickle=False)

    @classmethod
    def load(cls, directory: str, *, dim: int, **kwargs) -> 'BinaryRescoreIndex':
        """Read an index written by :meth:`save` (the int8 codes stay on disk, memory-mapped)."""
        index = cls(dim=dim, **kwargs)
        path = os.path.join(directory, BINARY_FILE)
        try:
            index.bits = index.faiss.read_index_binary(path)
        except RuntimeError as exc:
            raise IndexFolderError(f'{path}: not a readable FAISS binary index ({str(exc).splitlines()[0]})') from None
        scale = load_plain_array(os.path.join(directory, SCALE_FILE), ndim=2, kind='f')
        codes_path = os.path.join(directory, CODES_FILE)
        load_plain_array(codes_path, ndim=2, kind='u')            # checked in full once, then mapped
        codes = np.load(codes_path, mmap_mode='r', allow_pickle=False)
        if scale.shape != (2, dim) or codes.shape != (index.ntotal, dim) or codes.dtype != np.uint8:
            raise IndexFolderError(f'{directory}: codes {codes.shape} {codes.dtype} / scale {scale.shape} do not fit '
                                   f'{index.ntotal} vectors of size {dim}')
        index.quantizer, index.codes = ScalarQuantizer8(low=scale[0], high=scale[1]), codes
        return index
