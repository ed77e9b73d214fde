"""The product search service: a FastAPI app over a :class:`ProductEncoder` and a :class:`CatalogueIndex`.

Endpoints: ``POST /search``, ``POST /embed``, ``GET /products/{id}``, ``GET /products/{id}/thumbnail``,
``GET /categories``, ``GET /health`` and the search page at ``/`` (``/static/*``). Every bad request
gets a 4xx with ``{"detail": message}``; request bodies are limited in size.
"""

import logging
import os
from functools import lru_cache
from typing import Any, Dict, List, Optional

import numpy as np

from m5mm.datasets.errors import MediaError
from m5mm.utils.require import require

from .body_limit import BodySizeLimit
from .catalogue_index import CatalogueIndex
from .queries import BadRequest, Query, read_query
from .thumbnails import make_thumbnail

logger = logging.getLogger('m5mm')
STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'static')
DEFAULT_MAX_UPLOAD = 10 * 1024 * 1024
DEFAULT_MAX_K = 100


class SearchService:
    """What the endpoints do, without HTTP: embed a query, search, describe products."""

    def __init__(self, encoder, catalogue: CatalogueIndex, *, max_k: int = DEFAULT_MAX_K) -> None:
        catalogue.check_model(encoder)
        self.encoder = encoder
        self.catalogue = catalogue
        self.max_k = max_k
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
                    index=self.catalogue.directory, max_k=self.max_k)


def create_app(encoder, catalogue: CatalogueIndex, *, max_upload_bytes: int = DEFAULT_MAX_UPLOAD,
               max_k: int = DEFAULT_MAX_K):
    """The ASGI app (FastAPI wrapped in the body size limit).

    Args:
        encoder: a :class:`~m5mm.api.ProductEncoder`. catalogue: the index built with it.
        max_upload_bytes: largest request body accepted (413 above). max_k: largest k.
    """
    fastapi = require('fastapi', 'serve')
    from fastapi.responses import FileResponse, JSONResponse, Response
    from fastapi.staticfiles import StaticFiles
    from starlette.concurrency import run_in_threadpool

    service = SearchService(encoder, catalogue, max_k=max_k)
    app = fastapi.FastAPI(title='m5mm product search', docs_url='/docs', redoc_url=None)
    app.state.service = service
    specs = encoder.preprocessor.specs

    @app.exception_handler(BadRequest)
    async def bad_request(_, exc: BadRequest):
        return JSONResponse({'detail': exc.message}, status_code=exc.status)

    async def parse(request) -> Query:
        return await read_query(request, specs=specs, data_root=catalogue.data_root, max_k=max_k)

    @app.post('/search')
    async def search(request: fastapi.Request) -> Dict[str, Any]:
        query = await parse(request)
        return await run_in_threadpool(service.search, query)

    @app.post('/embed')
    async def embed(request: fastapi.Request) -> Dict[str, Any]:
        query = await parse(request)
        vector = await run_in_threadpool(service.vector, query)
        return dict(embedding=[float(v) for v in vector], dim=int(vector.shape[0]), feature=encoder.feature)

    @app.get('/products/{pid}')
    async def product(pid: str) -> Dict[str, Any]:
        row = service.catalogue.products.get(pid)
        if row is None:
            raise BadRequest(f'unknown product id {pid!r}', status=404)
        return service.describe(row, pid)

    @app.get('/products/{pid}/thumbnail')
    async def thumbnail(pid: str):
        data = await run_in_threadpool(service.thumbnail, pid)
        if data is None:
            raise BadRequest(f'no thumbnail for product {pid!r}', status=404)
        return Response(content=data, media_type='image/jpeg', headers={'Cache-Control': 'max-age=3600'})

    @app.get('/categories')
    async def categories() -> Dict[str, List[str]]:
        return dict(categories=service.catalogue.products.categories())

    @app.get('/health')
    async def health() -> Dict[str, Any]:
        return service.health()

    @app.get('/', include_in_schema=False)
    async def page():
        return FileResponse(os.path.join(STATIC_DIR, 'index.html'), media_type='text/html')

    app.mount('/static', StaticFiles(directory=STATIC_DIR), name='static')
    return BodySizeLimit(app, max_bytes=max_upload_bytes)
