"""What the service's endpoints do, without HTTP: embed a query, search the catalogue, describe products."""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, Optional

import numpy as np

from m5mm.datasets.errors import MediaError

from .catalogue_index import CatalogueIndex
from .queries import BadRequest, Query
from .request_limits import RequestLimits
from .thumbnails import make_thumbnail


class SearchService:
    """Queries against a catalogue index with the encoder it was built with (checked).

    Args:
        encoder: a :class:`~m5mm.api.ProductEncoder`. catalogue: its index.
        limits: what a request may hold (default: :meth:`RequestLimits.for_model` of the encoder).
    """

    def __init__(self, encoder, catalogue: CatalogueIndex, *, limits: Optional[RequestLimits] = None) -> None:
        catalogue.check_model(encoder)
        self.encoder = encoder
        self.catalogue = catalogue
        self.limits = limits or RequestLimits.for_model(encoder.preprocessor.pipelines)
        self.thumbnail = lru_cache(maxsize=4096)(self._thumbnail)

    def vector(self, query: Query) -> np.ndarray:
        """(D,) vector of a query: the indexed vector of an id, else the record embedded."""
        if query.product_id is not None:
            if query.product_id not in self.catalogue.index:
                raise BadRequest(f'unknown product id {query.product_id!r}', status=404)
            return self.catalogue.index.vector(query.product_id)
        try:
            return self.encoder.encode([query.record], progress=False, on_error='raise').features[0]
        except MediaError as exc:
            raise BadRequest(f'could not use the query: {exc.reason} ({exc.detail})') from None
        except (ValueError, TypeError) as exc:
            raise BadRequest(str(exc)) from None

    def search(self, query: Query) -> Dict[str, Any]:
        """The top-k results of a query, with titles, categories and thumbnail URLs."""
        if query.category is not None and not self.catalogue.products.has_category(query.category):
            raise BadRequest(f'unknown category {query.category!r} (GET /categories lists them)')
        hits = self.catalogue.search(self.vector(query), query.k, category=query.category,
                                     exclude_id=query.product_id)
        facts = self.catalogue.products.many([pid for pid, _ in hits])
        results = [dict(self.describe(facts.get(pid), pid), score=score) for pid, score in hits]
        return dict(results=results, k=query.k, category=query.category,
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
                    index=self.catalogue.directory, max_k=self.limits.max_k, limits=self.limits.as_dict())
