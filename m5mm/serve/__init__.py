"""The product search service and its web page (``tools/serve.py``; see docs/inference.md)."""
from .catalogue_index import CatalogueIndex, IndexMismatchError
from .product_table import ProductTable

__all__ = ['CatalogueIndex', 'IndexMismatchError', 'ProductTable', 'create_app']


def __getattr__(name: str):
    if name == 'create_app':   # FastAPI is an optional dependency (the "serve" extra)
        from .app import create_app
        return create_app
    raise AttributeError(name)
