"""Starting the service: load the model and the index, check they belong together, run uvicorn."""
from __future__ import annotations

import logging
from typing import Mapping, Optional

from m5mm.utils.require import require

from .app import DEFAULT_MAX_K, DEFAULT_MAX_UPLOAD, create_app
from .catalogue_index import CatalogueIndex

logger = logging.getLogger(__name__)


def load_app(model: str, index_dir: str, *, device: Optional[str] = None, max_upload_bytes: int = DEFAULT_MAX_UPLOAD,
             max_k: int = DEFAULT_MAX_K, limits: Optional[Mapping[str, Optional[int]]] = None):
    """The ASGI app of a model (folder, checkpoint or hub id) and its catalogue index (``limits``: see
    :func:`create_app`)."""
    from m5mm.api import ProductEncoder
    encoder = ProductEncoder.from_pretrained(model, device=device)
    catalogue = CatalogueIndex.load(index_dir)
    return create_app(encoder, catalogue, max_upload_bytes=max_upload_bytes, max_k=max_k, limits=limits)


def serve(model: str, index_dir: str, *, host: str = '127.0.0.1', port: int = 8000, device: Optional[str] = None,
          max_upload_bytes: int = DEFAULT_MAX_UPLOAD, max_k: int = DEFAULT_MAX_K,
          limits: Optional[Mapping[str, Optional[int]]] = None, log_level: str = 'info') -> None:
    """Run the service until interrupted."""
    uvicorn = require('uvicorn', 'serve')
    app = load_app(model, index_dir, device=device, max_upload_bytes=max_upload_bytes, max_k=max_k, limits=limits)
    logger.info('m5mm search page: http://%s:%d/', host, port)
    uvicorn.run(app, host=host, port=port, log_level=log_level)
