"""What the service's endpoints do, without HTTP: embed a query, search the catalogue, describe products.

A query's vector is the model's vector of its record; with per-modality ``weights`` it is the weighted
sum of each named modality's own vector, and a ``negative`` text's vector is subtracted (both then
L2-normalised). Every record a query needs is embedded in one call, through the micro-batcher when the
service has one. Searches run on the catalogue index, or on a vector database when one is given
(needed for attribute filters). Each answer carries category facets: the categories of the query's
top :data:`FACET_DEPTH` products, with counts.
"""
from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import Any, Dict, List, Mapping, Optional

import numpy as np

from m5mm.datasets.errors import MediaError

from .catalogue_index import CatalogueIndex
from .micro_batcher import MicroBatcher
from .queries import BadRequest, Query
from .request_limits import RequestLimits
from .thumbnails import make_thumbnail

FACET_DEPTH = 100   # the top products whose categories are counted as facets


class SearchService:
    """Queries against a catalogue index with the encoder it was built with (checked).

    Args:
        encoder: a :class:`~m5mm.api.ProductEncoder`. catalogue: its index.
        limits: what a request may hold (default: :meth:`RequestLimits.for_model` of the encoder).
        batcher: embeds the records of concurrent queries together (None: each query on its own).
        vector_db: a :class:`~m5mm.serve.vector_db.MilvusCatalogue` of the same vectors to search in
            (None: the catalogue index).
    """

    def __init__(self, encoder, catalogue: CatalogueIndex, *, limits: Optional[RequestLimits] = None,
                 batcher: Optional[MicroBatcher] = None, vector_db: Any = None) -> None:
        catalogue.check_model(encoder)
        if vector_db is not None:
            vector_db.check_model(encoder)
        self.encoder = encoder
        self.catalogue = catalogue
        self.limits = limits or RequestLimits.for_model(encoder.preprocessor.pipelines)
        self.batcher = batcher
        self.vector_db = vector_db
        self.thumbnail = lru_cache(maxsize=4096)(self._thumbnail)

    def encode_records(self, records: List[Mapping[str, Any]]) -> np.ndarray:
        """(N, D) vectors of query records, one forward for all of them (BadRequest for unusable input)."""
        try:
            if self.batcher is not None:
                return self.batcher.encode(records)
            return self.encoder.encode(records, progress=False, on_error='raise',
                                       batch_size=max(1, len(records))).features
        except MediaError as exc:
            raise BadRequest(f'could not use the query: {exc.reason} ({exc.detail})') from None
        except (ValueError, TypeError) as exc:
            raise BadRequest(str(exc)) from None

    def vector(self, query: Query) -> np.ndarray:
        """(D,) vector of a query: the indexed vector of an id or the record embedded, combined with the
        weighted modality parts and the negative text its options ask for."""
        options = query.options
        base: Optional[np.ndarray] = None
        records: List[Mapping[str, Any]] = []
        weights: List[float] = []
        if query.product_id is not None:
            if query.product_id not in self.catalogue.index:
                raise BadRequest(f'unknown product id {query.product_id!r}', status=404)
            base = self.catalogue.index.vector(query.product_id)
        elif options.weights is None:
            records, weights = [query.record], [1.0]
        else:
            specs = self.encoder.preprocessor.specs
            for name, weight in options.weights.items():
                field = specs[name].record_field
                records.append({'id': f'query-{name}', field: query.record[field]})
                weights.append(weight)
        if options.negative is not None:
            records.append({'id': 'query-negative', 'text': options.negative})
            weights.append(-options.negative_weight)
        vectors = self.encode_records(records) if records else np.zeros((0, 0), np.float32)
        if not options.combines:
            return base if base is not None else vectors[0]
        parts = ([unit(base)] if base is not None else []) + [unit(v) for v in vectors]
        weights = ([1.0] if base is not None else []) + weights
        return unit(sum(w * v for w, v in zip(weights, parts)))

    def _search(self, vector: np.ndarray, k: int, query: Query, category: Optional[str]) -> List[tuple]:
        filters = query.options.filters
        if self.vector_db is not None:
            return self.vector_db.search(vector, k, category=category, exclude_id=query.product_id, filters=filters)
        if filters:
            raise BadRequest('attribute filters need a vector database: start the service with --vector-db')
        return self.catalogue.search(vector, k, category=category, exclude_id=query.product_id)

    def search(self, query: Query) -> Dict[str, Any]:
        """The top-k results of a query, with titles, categories, thumbnail URLs and category facets."""
        if query.category is not None and not self.catalogue.products.has_category(query.category):
            raise BadRequest(f'unknown category {query.category!r} (GET /categories lists them)')
        vector = self.vector(query)
        depth = min(max(query.k, FACET_DEPTH), len(self.catalogue.index))
        around = self._search(vector, depth, query, None)
        hits = (around[:query.k] if query.category is None else
                self._search(vector, query.k, query, query.category))
        facts = self.catalogue.products.many(list(dict.fromkeys([pid for pid, _ in hits + around])))
        results = [dict(self.describe(facts.get(pid), pid), score=score) for pid, score in hits]
        counts = Counter(str(facts.get(pid, {}).get('category')) for pid, _ in around
                         if facts.get(pid, {}).get('category') is not None)
        facets = [dict(category=name, count=count) for name, count in
                  sorted(counts.items(), key=lambda item: (-item[1], item[0]))]
        return dict(results=results, k=query.k, category=query.category, facets=facets, facet_depth=len(around),
                    query=dict(id=query.product_id) if query.product_id else
                    dict(modalities=[k for k, v in query.record.items() if k != 'id' and v is not None]))

    def describe(self, row: Optional[Dict[str, Any]], pid: str) -> Dict[str, Any]:
        """The public facts of a product row."""
        row = row or {}
        return dict(id=pid, title=row.get('title'), category=row.get('category'),
                    modalities=[m for m in (row.get('modalities') or '').split(',') if m],
                    thumbnail=f'/products/{pid}/thumbnail' if row.get('image') else None)

    def _thumbnail(self, pid: str) -> Optional[bytes]:
        row = self.catalogue.products.get(pid)
        if not row or not row.get('image'):
            return None
        return make_thumbnail(self.catalogue.data_root, row['image'])

    def health(self) -> Dict[str, Any]:
        """Status, sizes and provenance."""
        info = self.catalogue.info
        return dict(status='ok', products=len(self.catalogue.index), dim=self.catalogue.index.dim,
                    feature=self.encoder.feature, modalities=self.encoder.modalities, model=self.encoder.source,
                    model_fingerprint=self.encoder.fingerprint, catalogue=info['catalogue']['data_root'],
                    index=self.catalogue.directory, max_k=self.limits.max_k, limits=self.limits.as_dict(),
                    search_backend='milvus' if self.vector_db is not None else self.catalogue.index.backend,
                    filter_attributes=self.vector_db.attributes if self.vector_db is not None else [],
                    micro_batching=None if self.batcher is None else dict(
                        max_batch=self.batcher.max_batch, max_wait_ms=self.batcher.max_wait * 1000,
                        forwards=self.batcher.batches, mean_batch=round(self.batcher.mean_batch, 2)))


def unit(vector: np.ndarray) -> np.ndarray:
    """``vector / ||vector||`` (a zero vector stays zero)."""
    vector = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
