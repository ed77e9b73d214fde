"""Product vectors in a Milvus collection: embedded (milvus-lite, a file) on one machine, a cluster for many.

One entity per product: ``id``, the ``joint`` vector (the one the catalogue index holds), one named
vector per modality when written with them (``vec_text``, ``vec_image``, ...; zeros where the product
lacks the modality), ``title``, ``category``, ``modalities`` and ``attributes`` (JSON: the product's
table pairs, numbers where the value is one, plus chosen manifest fields such as ``price``). The same
code talks to ``milvus-lite`` (``uri='catalogue.db'``) and to a Milvus server (``uri='http://host:19530'``).

Why Milvus: inserting into Qdrant's local mode ran at ~35 products/s against milvus-lite's ~4,000/s
(benchmarks/vector_db.py), and Qdrant's local mode stores points with pickle, which m5mm never loads.
Filters are built here from checked names and numbers only, never from request text.
"""
from __future__ import annotations

import json
import logging
import math
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from m5mm.utils.require import require

from .errors import BadRequest

logger = logging.getLogger(__name__)
INFO_PROPERTY = 'm5mm.info'
FORMAT, FORMAT_VERSION = 'm5mm-vector-db', 1
OPERATORS = dict(lt='<', lte='<=', gt='>', gte='>=', eq='==')
MAX_TEXT = dict(id=256, title=2048, category=512, modalities=256)
INDEX_TYPES = ('FLAT', 'HNSW')


class VectorDbError(ValueError):
    """A collection that is missing, not written by m5mm, or written with another model."""


def _quote(value: str) -> str:
    """A string literal of a Milvus filter expression."""
    return json.dumps(str(value))


def _scalar(value: Any) -> Any:
    """A table value as a filterable payload value: a finite number where it parses as one, else text."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text[:MAX_TEXT['title']]
    return number if math.isfinite(number) else text


def record_attributes(record: Mapping[str, Any], *, table_field: str = 'table',
                      fields: Sequence[str] = ()) -> Dict[str, Any]:
    """A manifest record's payload attributes: its table's ``[key, value]`` pairs and the named top-level
    ``fields`` (``price``), numbers where the value is one."""
    out: Dict[str, Any] = {}
    table = record.get(table_field)
    if isinstance(table, list):
        for pair in table:
            if isinstance(pair, (list, tuple)) and len(pair) == 2 and pair[0] is not None and pair[1] is not None:
                value = _scalar(pair[1])
                if value is not None:
                    out[str(pair[0])[:MAX_TEXT['category']]] = value
    for name in fields:
        if record.get(name) is not None:
            value = _scalar(record[name])
            if value is not None:
                out[name] = value
    return out


class MilvusCatalogue:
    """Search a catalogue's product vectors in Milvus with category and attribute filters.

    Args:
        client: a ``pymilvus.MilvusClient``. collection: its name. info: what :meth:`write` stored.
    """

    def __init__(self, client: Any, collection: str, info: Dict[str, Any]) -> None:
        self.client = client
        self.collection = collection
        self.info = info

    # ------------------------------------------------------------------ writing
    @classmethod
    def write(cls, uri: str, *, ids: Sequence[str], vectors: np.ndarray, products: Iterable[Mapping[str, Any]],
              model: Mapping[str, Any], collection: str = 'products',
              modality_vectors: Optional[Mapping[str, np.ndarray]] = None, index_type: str = 'FLAT',
              metric: str = 'ip', batch_size: int = 5000, overwrite: bool = False, token: str = ''
              ) -> 'MilvusCatalogue':
        """Create ``collection`` at ``uri`` and insert every product.

        Args:
            ids: (N,) product ids. vectors: (N, D) joint vectors, in the order of ``ids``.
            products: dicts with ``id``, ``title``, ``category``, ``modalities`` (list or comma string) and
                ``attributes`` (a dict), one per id (any order; missing ones get empty facts).
            model: ``source``, ``fingerprint``, ``feature`` of the model that made the vectors.
            modality_vectors: modality -> (N, D) vectors in the order of ``ids`` (zero rows: absent).
            index_type: 'FLAT' (exact) or 'HNSW'. overwrite: drop an existing collection of that name.
            metric: the catalogue index's ('ip', or 'cosine': queries are L2-normalised before searching).
        """
        pymilvus = require('pymilvus', 'vectordb')
        if index_type not in INDEX_TYPES:
            raise ValueError(f'index_type must be one of {INDEX_TYPES}, got {index_type!r}')
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(ids):
            raise ValueError(f'vectors must be (len(ids), D), got {vectors.shape} for {len(ids)} ids')
        modality_vectors = {m: np.ascontiguousarray(v, dtype=np.float32) for m, v in (modality_vectors or {}).items()}
        for name, array in modality_vectors.items():
            if array.shape != vectors.shape:
                raise ValueError(f'modality vectors {name!r} are {array.shape}, the joint ones {vectors.shape}')
        client = pymilvus.MilvusClient(uri, token=token)
        if client.has_collection(collection):
            if not overwrite:
                raise FileExistsError(f'{uri} already has a collection {collection!r} (overwrite=True replaces it)')
            client.drop_collection(collection)
        dim = int(vectors.shape[1])
        info = dict(format=FORMAT, format_version=FORMAT_VERSION, dim=dim, model=dict(model),
                    modality_vectors=sorted(modality_vectors), index_type=index_type, metric=metric, count=len(ids))
        schema = client.create_schema(auto_id=False)
        DataType = pymilvus.DataType
        schema.add_field('id', DataType.VARCHAR, is_primary=True, max_length=MAX_TEXT['id'])
        schema.add_field('joint', DataType.FLOAT_VECTOR, dim=dim)
        for name in sorted(modality_vectors):
            schema.add_field(f'vec_{name}', DataType.FLOAT_VECTOR, dim=dim)
        for name in ('title', 'category', 'modalities'):
            schema.add_field(name, DataType.VARCHAR, max_length=MAX_TEXT[name])
        schema.add_field('attributes', DataType.JSON)
        index_params = client.prepare_index_params()
        options = dict(M=16, efConstruction=64) if index_type == 'HNSW' else {}
        for field in ['joint'] + [f'vec_{m}' for m in sorted(modality_vectors)]:
            index_params.add_index(field_name=field, index_type=index_type, metric_type='IP', params=options)
        client.create_collection(collection, schema=schema, index_params=index_params,
                                 properties={INFO_PROPERTY: json.dumps(info)})
        facts = {str(p['id']): p for p in products}
        keys = set()
        for start in range(0, len(ids), batch_size):
            rows = []
            for row in range(start, min(len(ids), start + batch_size)):
                pid = str(ids[row])
                fact = facts.get(pid, {})
                attributes = dict(fact.get('attributes') or {})
                keys.update(attributes)
                modalities = fact.get('modalities') or ''
                entity = dict(id=pid, joint=vectors[row], title=str(fact.get('title') or '')[:MAX_TEXT['title']],
                              category=str(fact.get('category') or '')[:MAX_TEXT['category']],
                              modalities=(modalities if isinstance(modalities, str) else ','.join(modalities)),
                              attributes=attributes)
                entity.update({f'vec_{m}': array[row] for m, array in modality_vectors.items()})
                rows.append(entity)
            client.insert(collection, rows)
        info['attributes'] = sorted(keys)
        client.alter_collection_properties(collection, properties={INFO_PROPERTY: json.dumps(info)})
        client.flush(collection)
        client.load_collection(collection)
        return cls(client, collection, info)

    # ------------------------------------------------------------------ reading
    @classmethod
    def open(cls, uri: str, *, collection: str = 'products', token: str = '') -> 'MilvusCatalogue':
        """Open a collection :meth:`write` made (its stored info is JSON, checked)."""
        pymilvus = require('pymilvus', 'vectordb')
        client = pymilvus.MilvusClient(uri, token=token)
        if not client.has_collection(collection):
            raise VectorDbError(f'{uri} has no collection {collection!r}; write one with tools/export_vector_db.py')
        properties = client.describe_collection(collection).get('properties') or {}
        try:
            info = json.loads(properties.get(INFO_PROPERTY, ''))
        except ValueError:
            info = None
        if not isinstance(info, dict) or info.get('format') != FORMAT or info.get('format_version') != FORMAT_VERSION:
            raise VectorDbError(f'{uri} collection {collection!r} was not written by m5mm (format {FORMAT} '
                                f'v{FORMAT_VERSION})')
        client.load_collection(collection)
        return cls(client, collection, info)

    def check_model(self, encoder) -> None:
        """Fail unless the collection's vectors come from ``encoder``'s weights and feature kind."""
        model = self.info['model']
        if model.get('fingerprint') != encoder.fingerprint or model.get('feature') != encoder.feature:
            raise VectorDbError(f'collection {self.collection!r} holds vectors of {model.get("source")} '
                                f'({str(model.get("fingerprint"))[:12]}), not of {encoder.source} '
                                f'({encoder.fingerprint[:12]}); write it again with tools/export_vector_db.py')

    @property
    def attributes(self) -> List[str]:
        """Attribute names a filter may use."""
        return list(self.info.get('attributes') or [])

    def filter_expression(self, *, category: Optional[str] = None, exclude_id: Optional[str] = None,
                          filters: Optional[Mapping[str, Mapping[str, Any]]] = None) -> str:
        """The Milvus boolean expression of the conditions (names checked, values quoted)."""
        parts = []
        if category is not None:
            parts.append(f'category == {_quote(category)}')
        if exclude_id is not None:
            parts.append(f'id != {_quote(exclude_id)}')
        known = set(self.attributes)
        for name, condition in (filters or {}).items():
            if name not in known:
                raise BadRequest(f'unknown filter attribute {name[:64]!r}; the catalogue has '
                                 f'{sorted(known)[:20]}')
            for op, value in condition.items():
                literal = _quote(value) if isinstance(value, str) else repr(float(value))
                parts.append(f'attributes[{_quote(name)}] {OPERATORS[op]} {literal}')
        return ' and '.join(parts)

    def search(self, vector: np.ndarray, k: int, *, category: Optional[str] = None,
               exclude_id: Optional[str] = None, filters: Optional[Mapping[str, Mapping[str, Any]]] = None,
               field: str = 'joint') -> List[Tuple[str, float]]:
        """``[(id, score)]`` of the top ``k`` products meeting the conditions, by inner product on ``field``."""
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        if self.info.get('metric') == 'cosine':
            vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
        expression = self.filter_expression(category=category, exclude_id=exclude_id, filters=filters)
        hits = self.client.search(self.collection, data=[vector.tolist()], anns_field=field, limit=int(k),
                                  filter=expression, search_params=dict(metric_type='IP'))
        return [(str(hit['id']), float(hit['distance'])) for hit in hits[0]]

    def __len__(self) -> int:
        return int(self.info.get('count', 0))
