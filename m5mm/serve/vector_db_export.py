"""Copy a catalogue index (tools/build_index.py) into a Milvus collection, with payload and named vectors.

The joint vectors are the index's own, so a search in the collection ranks as the index does. With a
model, each product's modalities are also embedded one at a time (as single-modality products) and
stored as named vectors, for "search by photo among product photos" style queries.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np

from .catalogue_index import CatalogueIndex
from .vector_db import MilvusCatalogue, record_attributes

logger = logging.getLogger(__name__)
CHUNK = 4096


def index_vectors(catalogue: CatalogueIndex) -> np.ndarray:
    """(N, D) float32 vectors of the index, in the order of its ids."""
    index = catalogue.index
    return np.stack([index.index.reconstruct(row) for row in range(len(index))]).astype(np.float32)


def manifest_attributes(manifest: str, ids: Iterable[str], *, fields: Sequence[str] = ()) -> Dict[str, Dict]:
    """id -> payload attributes of the manifest records among ``ids`` (unreadable lines counted and skipped)."""
    wanted, out, skipped = set(ids), {}, 0
    with open(manifest, encoding='utf-8', errors='replace') as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                skipped += 1
                continue
            if isinstance(record, dict) and str(record.get('id')) in wanted:
                out[str(record['id'])] = record_attributes(record, fields=fields)
    if skipped:
        logger.warning('m5mm: %d unreadable lines of %s skipped (their products get no attributes)', skipped, manifest)
    return out


def modality_vectors(encoder, catalogue: CatalogueIndex, modalities: Sequence[str], *, batch_size: int = 64
                     ) -> Dict[str, np.ndarray]:
    """modality -> (N, D) vectors of each product's modality alone, in the index's order (zeros where absent)."""
    from m5mm.evaluation.catalogue_dataset import encoder_catalogue_dataset
    unknown = [m for m in modalities if m not in encoder.preprocessor.specs]
    if unknown:
        raise ValueError(f'modalities {unknown} are not the model\'s {encoder.modalities}')
    dataset = encoder_catalogue_dataset(encoder, catalogue.data_root, catalogue.info['catalogue']['manifest'], None)
    row_of = {pid: row for row, pid in enumerate(catalogue.index.ids)}
    out = {m: np.zeros((len(row_of), catalogue.index.dim), np.float32) for m in modalities}
    for name in modalities:
        field = encoder.preprocessor.specs[name].record_field
        pending: List[Dict[str, Any]] = []
        for record in list(dataset.records) + [None]:
            if record is not None and record['id'] in row_of and record['fields'].get(field) is not None:
                pending.append({'id': record['id'], field: record['fields'][field]})
            if pending and (record is None or len(pending) >= CHUNK):
                encoding = encoder.encode(pending, modalities=[name], data_root=catalogue.data_root,
                                          batch_size=batch_size, progress=False, on_error='absent')
                for pid, vector in zip(encoding.ids, encoding.features):
                    out[name][row_of[pid]] = vector
                pending = []
    return out


def export_catalogue(catalogue: CatalogueIndex, uri: str, *, collection: str = 'products', encoder=None,
                     modalities: Sequence[str] = (), payload_fields: Sequence[str] = (), index_type: str = 'FLAT',
                     overwrite: bool = False, token: str = '') -> MilvusCatalogue:
    """Write ``catalogue``'s products into ``collection`` at ``uri`` (see :class:`MilvusCatalogue`).

    Args:
        encoder: the index's model (checked); needed for ``modalities`` (named per-modality vectors).
        payload_fields: top-level manifest fields stored as attributes beside the table's (``price``).
    """
    if modalities and encoder is None:
        raise ValueError('per-modality vectors need the model (--model)')
    if encoder is not None:
        catalogue.check_model(encoder)
    ids = list(catalogue.index.ids)
    attributes = manifest_attributes(catalogue.info['catalogue']['manifest'], ids, fields=payload_fields)
    facts = catalogue.products.many(ids)
    products: List[Dict[str, Any]] = [dict(id=pid, title=row.get('title'), category=row.get('category'),
                                           modalities=row.get('modalities') or '', attributes=attributes.get(pid))
                                      for pid, row in facts.items()]
    named: Optional[Dict[str, np.ndarray]] = (modality_vectors(encoder, catalogue, modalities)
                                              if modalities else None)
    return MilvusCatalogue.write(uri, ids=ids, vectors=index_vectors(catalogue), products=products,
                                 model=catalogue.info['model'], metric=catalogue.info['index']['metric'],
                                 collection=collection, modality_vectors=named,
                                 index_type=index_type, overwrite=overwrite, token=token)
