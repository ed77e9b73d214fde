"""Starting the service: load the model and the index, check they belong together, run uvicorn."""
from __future__ import annotations

import logging
from typing import Mapping, Optional

from m5mm.utils.require import require

from .app import DEFAULT_MAX_BATCH, DEFAULT_MAX_K, DEFAULT_MAX_UPLOAD, DEFAULT_MAX_WAIT_MS, create_app
from .catalogue_index import CatalogueIndex

logger = logging.getLogger(__name__)


def load_app(model: str, index_dir: str, *, device: Optional[str] = None, max_upload_bytes: int = DEFAULT_MAX_UPLOAD,
             max_k: int = DEFAULT_MAX_K, limits: Optional[Mapping[str, Optional[int]]] = None,
             max_batch: int = DEFAULT_MAX_BATCH, max_wait_ms: float = DEFAULT_MAX_WAIT_MS,
             vector_db: Optional[str] = None, collection: str = 'products'):
    """The ASGI app of a model (folder, checkpoint or hub id) and its catalogue index (``limits``,
    ``max_batch``, ``max_wait_ms``: see :func:`create_app`; ``vector_db``: a Milvus URI whose ``collection``
    tools/export_vector_db.py wrote from the same index)."""
    from m5mm.api import ProductEncoder
    encoder = ProductEncoder.from_pretrained(model, device=device)
    catalogue = CatalogueIndex.load(index_dir)
    database = None
    if vector_db is not None:
        from .vector_db import MilvusCatalogue
        database = MilvusCatalogue.open(vector_db, collection=collection)
    return create_app(encoder, catalogue, max_upload_bytes=max_upload_bytes, max_k=max_k, limits=limits,
                      max_batch=max_batch, max_wait_ms=max_wait_ms, vector_db=database)


def serve(model: str, index_dir: str, *, host: str = '127.0.0.1', port: int = 8000, device: Optional[str] = None,
          max_upload_bytes: int = DEFAULT_MAX_UPLOAD, max_k: int = DEFAULT_MAX_K,
          limits: Optional[Mapping[str, Optional[int]]] = None, log_level: str = 'info', **options) -> None:
    """Run the service until interrupted (``options``: the rest of :func:`load_app`'s)."""
    uvicorn = require('uvicorn', 'serve')
    app = load_app(model, index_dir, device=device, max_upload_bytes=max_upload_bytes, max_k=max_k, limits=limits,
                   **options)
    logger.info('m5mm search page: http://%s:%d/', host, port)
    uvicorn.run(app, host=host, port=port, log_level=log_level)
