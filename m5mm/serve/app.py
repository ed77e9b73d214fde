"""The product search service: a FastAPI app over a :class:`ProductEncoder` and a :class:`CatalogueIndex`.

Endpoints: ``POST /search``, ``POST /embed``, ``GET /products/{id}``, ``GET /products/{id}/thumbnail``,
``GET /categories``, ``GET /health`` and the search page at ``/`` (``/static/*``). Every bad request
gets a 4xx with ``{"detail": message}``; request bodies are limited in size, and every field of a
request by :class:`~m5mm.serve.request_limits.RequestLimits` before any model or tokenizer runs.
"""

import os
from typing import Any, Dict, List, Mapping, Optional

from m5mm.utils.require import require

from .body_limit import BodySizeLimit
from .catalogue_index import CatalogueIndex
from .micro_batcher import MicroBatcher
from .queries import BadRequest, Query, read_query
from .request_limits import DEFAULT_MAX_K, RequestLimits
from .search_service import SearchService

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'static')
DEFAULT_MAX_UPLOAD = 10 * 1024 * 1024
DEFAULT_MAX_BATCH, DEFAULT_MAX_WAIT_MS = 32, 5.0


def create_app(encoder, catalogue: CatalogueIndex, *, max_upload_bytes: int = DEFAULT_MAX_UPLOAD,
               max_k: int = DEFAULT_MAX_K, limits: Optional[Mapping[str, Optional[int]]] = None,
               max_batch: int = DEFAULT_MAX_BATCH, max_wait_ms: float = DEFAULT_MAX_WAIT_MS, vector_db=None):
    """The ASGI app (FastAPI wrapped in the body size limit).

    Args:
        encoder: a :class:`~m5mm.api.ProductEncoder`. catalogue: the index built with it.
        max_upload_bytes: largest request body accepted (413 above). max_k: largest k.
        limits: :class:`RequestLimits` fields to set (``max_text_chars=...``; None or missing: the default
            for the model).
        max_batch, max_wait_ms: micro-batching of concurrent queries (:class:`MicroBatcher`); ``max_batch=1``
            embeds each query on its own.
        vector_db: a :class:`~m5mm.serve.vector_db.MilvusCatalogue` to search in (needed for filters).
    """
    fastapi = require('fastapi', 'serve')
    from fastapi.responses import FileResponse, JSONResponse, Response
    from fastapi.staticfiles import StaticFiles
    from starlette.concurrency import run_in_threadpool

    request_limits = RequestLimits.for_model(encoder.preprocessor.pipelines, **dict(limits or {}, max_k=max_k))
    batcher = None
    if max_batch > 1:
        def encode(records):
            return encoder.encode(records, progress=False, on_error='raise', batch_size=len(records)).features
        batcher = MicroBatcher(encode, max_batch=max_batch, max_wait_ms=max_wait_ms)
    service = SearchService(encoder, catalogue, limits=request_limits, batcher=batcher, vector_db=vector_db)
    app = fastapi.FastAPI(title='m5mm product search', docs_url='/docs', redoc_url=None)
    app.state.service = service
    specs = encoder.preprocessor.specs

    @app.exception_handler(BadRequest)
    async def bad_request(_, exc: BadRequest):
        return JSONResponse({'detail': exc.message}, status_code=exc.status)

    async def parse(request) -> Query:
        return await read_query(request, specs=specs, data_root=catalogue.data_root, limits=request_limits)

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
