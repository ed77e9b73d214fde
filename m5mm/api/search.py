"""Search products with a :class:`ProductEncoder` and a :class:`~m5mm.evaluation.SearchIndex`."""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

from m5mm.evaluation.search import SearchIndex, SearchResult

from .product_encoder import ProductEncoder


def build_index(encoder: ProductEncoder, records: Sequence[Mapping[str, Any]], *, data_root: Optional[str] = None,
                batch_size: int = 32, progress: bool = True, **index_options) -> SearchIndex:
    """Index the vectors of ``records`` by their ids (``index_options``: see :class:`SearchIndex`).

    ``data_root``: the folder the records' relative media paths are relative to (for manifest lines, the
    catalogue folder); None: the working directory (see :meth:`ProductEncoder.encode`).
    """
    encoded = encoder.encode(records, data_root=data_root, batch_size=batch_size, progress=progress)
    return SearchIndex.build(encoded.features, encoded.ids, **index_options)


def query_record(*, text: Optional[str] = None, image: Any = None,
                 record: Optional[Mapping[str, Any]] = None) -> dict:
    """One query record from a text, an image (path, bytes, PIL, array) and/or a record's fields."""
    out = dict(record or {})
    if text is not None:
        out['text'] = text
    if image is not None:
        out['image'] = image
    out.setdefault('id', 'query')
    return out


def search(encoder: ProductEncoder, index: SearchIndex, *, text: Optional[str] = None, image: Any = None,
           record: Optional[Mapping[str, Any]] = None, product_id: Optional[str] = None, k: int = 10,
           data_root: Optional[str] = None) -> SearchResult:
    """Top ``k`` indexed products for a text, an image, a record (any subset of modalities) or an
    indexed product's id (itself left out). Text and image may be combined into one query."""
    if product_id is not None:
        if text is not None or image is not None or record is not None:
            raise ValueError('search by product_id takes no text, image or record')
        return index.search_by_id(product_id, k)
    if text is None and image is None and not record:
        raise ValueError('give a text, an image, a record or a product_id to search for')
    query = query_record(text=text, image=image, record=record)
    vector = encoder.encode([query], data_root=data_root, progress=False).features
    return index.search(vector, k)
