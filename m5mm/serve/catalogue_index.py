"""A search index over a catalogue, with the product facts and what it was built from.

``tools/build_index.py`` writes the folder::

    INDEX_DIR/
      catalogue.json    format, the catalogue (data root, manifest, its size / mtime / sha256, splits),
                        the model (source, weights fingerprint, feature kind), the index settings,
                        the size and sha256 of products.sqlite (checked before SQLite opens it)
      products.sqlite   id, row, title, category, image path, modalities of every indexed product
      meta.json, ids.npy, index.faiss | vectors.npy     the SearchIndex (m5mm.evaluation.search)

The vectors come from the model's own modality pipelines over the catalogue's manifest through
``extract_features`` (what ``tools/extract_features.py`` does), so the service's queries and the
indexed products are embedded by the same code.
"""
from __future__ import annotations

import json
import logging
import os
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from m5mm.evaluation.catalogue_dataset import encoder_catalogue_dataset
from m5mm.evaluation.search import SearchIndex
from m5mm.evaluation.search.index_files import describe_index_files, verify_index_files
from m5mm.utils.files import read_json, sha256_file
from m5mm.version import __version__

from .product_table import ProductTable

logger = logging.getLogger(__name__)
INFO_FILE, PRODUCTS_FILE = 'catalogue.json', 'products.sqlite'
FORMAT, FORMAT_VERSION = 'm5mm-catalogue-index', 1


class IndexMismatchError(ValueError):
    """An index folder that does not belong to the model (or is not a catalogue index)."""


def _product_rows(dataset, row_of: Dict[str, int]) -> Iterator[Dict[str, Any]]:
    """Table rows of the indexed products, from the dataset's own (validated) records."""
    specs = dataset.specs
    text_field = 'text' if 'text' in specs else None
    image_field = 'image' if 'image' in specs and specs['image'].source == 'raw' else None
    for record in dataset.records:
        if record['id'] not in row_of:
            continue
        fields = record['fields']
        yield dict(id=record['id'], row=row_of[record['id']], category=record['category'], split=record['split'],
                   title=fields.get(text_field) if text_field else None,
                   image=fields.get(image_field) if image_field else None,
                   modalities=','.join(m for m, v in fields.items() if v is not None))


class CatalogueIndex:
    """A :class:`SearchIndex` of a catalogue's products, their facts and provenance.

    Args:
        directory: the index folder. index: the vectors. products: the product table.
        info: the ``catalogue.json`` content.
    """

    def __init__(self, *, directory: str, index: SearchIndex, products: ProductTable, info: Dict[str, Any]) -> None:
        self.directory = directory
        self.index = index
        self.products = products
        self.info = info

    @property
    def data_root(self) -> str:
        """The catalogue folder (thumbnails are read from it, and only from it)."""
        return self.info['catalogue']['data_root']

    @classmethod
    def build(cls, encoder, data_root: str, out_dir: str, *, manifest: Optional[str] = None,
              splits: Optional[Sequence[str]] = None, batch_size: int = 64, num_workers: int = 0,
              progress: bool = True, index_type: str = 'flat', metric: str = 'ip', **index_options
              ) -> 'CatalogueIndex':
        """Embed the catalogue at ``data_root`` with ``encoder`` and write the index folder ``out_dir``.

        Args:
            manifest: the manifest (default ``DATA_ROOT/manifest.jsonl``). splits: only these splits.
            index_type, metric, index_options: see :class:`SearchIndex`.
        """
        from m5mm.datasets.loaders import build_dataloader
        from m5mm.evaluation import extract_features
        if os.path.exists(os.path.join(out_dir, INFO_FILE)) or (os.path.isdir(out_dir) and os.listdir(out_dir)):
            raise FileExistsError(f'{out_dir} is not empty; give a new folder for the index')
        dataset = encoder_catalogue_dataset(encoder, data_root, manifest, splits)
        if len(dataset) == 0:
            raise ValueError(f'{dataset.source_name} has no product in splits {splits or "all"}')
        loader = build_dataloader(dict(batch_size=batch_size, num_workers=num_workers), dataset=dataset)
        if progress:
            from tqdm.auto import tqdm
            loader = tqdm(loader, desc='index', unit='batch')
        features = extract_features(encoder.model, loader, kind=encoder.feature)
        index = SearchIndex.build(features['features'], features['ids'], index_type=index_type, metric=metric,
                                  **index_options)
        os.makedirs(out_dir, exist_ok=True)
        index.save(out_dir)
        row_of = {pid: row for row, pid in enumerate(features['ids'])}
        ProductTable.write(os.path.join(out_dir, PRODUCTS_FILE), _product_rows(dataset, row_of))
        info = dict(format=FORMAT, format_version=FORMAT_VERSION, m5mm_version=__version__,
                    created=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
                    catalogue=dict(data_root=dataset.data_root, manifest=dataset.manifest,
                                   **_file_state(dataset.manifest), manifest_sha256=sha256_file(dataset.manifest),
                                   splits=list(splits) if splits else None, num_products=len(index),
                                   skipped_records=dataset.num_bad_lines),
                    model=dict(source=encoder.source, fingerprint=encoder.fingerprint, feature=encoder.feature),
                    index=dict(type=index_type, metric=metric, backend=index.backend, dim=index.dim),
                    files=describe_index_files(out_dir, [PRODUCTS_FILE]))
        with open(os.path.join(out_dir, INFO_FILE), 'w') as handle:
            json.dump(info, handle, indent=1)
        return cls.load(out_dir)

    @classmethod
    def load(cls, directory: str) -> 'CatalogueIndex':
        """Open an index folder written by :meth:`build`."""
        path = os.path.join(directory, INFO_FILE)
        if not os.path.isfile(path):
            raise IndexMismatchError(f'{directory} is not a catalogue index (no {INFO_FILE}); build one with '
                                     f'tools/build_index.py MODEL --data-root CATALOGUE --out {directory}')
        info = read_json(path, error=IndexMismatchError)
        if not isinstance(info, dict) or info.get('format') != FORMAT or info.get('format_version') != FORMAT_VERSION:
            raise IndexMismatchError(f'{path}: not a version-{FORMAT_VERSION} {FORMAT} folder')
        if 'files' in info:
            verify_index_files(directory, info['files'])
        else:
            logger.warning('m5mm: %s lists no digest of %s (built before m5mm 0.3): not verified; rebuild the '
                           'index to have it checked', path, PRODUCTS_FILE)
        index = SearchIndex.load(directory)
        products = ProductTable(os.path.join(directory, PRODUCTS_FILE))
        catalogue = info['catalogue']
        if _file_state(catalogue['manifest']) != {k: catalogue.get(k) for k in ('manifest_bytes', 'manifest_mtime')}:
            logger.warning('m5mm: %s changed since the index was built; titles and thumbnails may not match the '
                           'indexed vectors (rebuild with tools/build_index.py)', catalogue['manifest'])
        return cls(directory=directory, index=index, products=products, info=info)

    def check_model(self, encoder) -> None:
        """Fail unless the index was built with ``encoder``'s weights and feature kind."""
        model = self.info['model']
        if model['fingerprint'] != encoder.fingerprint or model['feature'] != encoder.feature:
            raise IndexMismatchError(
                f'{self.directory} was built with the model {model["source"]} ({model["feature"]} features, '
                f'weights {model["fingerprint"][:12]}), not {encoder.source} ({encoder.feature}, '
                f'{encoder.fingerprint[:12]}); rebuild it with tools/build_index.py')

    def search(self, vector, k: int, *, category: Optional[str] = None,
               exclude_id: Optional[str] = None) -> List[Tuple[str, float]]:
        """``[(id, score)]`` of the top ``k`` products (of ``category`` when given) for one vector (D,)."""
        exclude = [exclude_id] if exclude_id is not None else None
        fetch = k if category is None else 4 * k
        while True:
            result = self.index.search(vector, min(fetch, len(self.index)), exclude_ids=exclude)
            hits = [(pid, float(s)) for pid, s in zip(result.ids[0], result.scores[0])]
            if category is not None:
                known = self.products.many([pid for pid, _ in hits])
                hits = [(pid, s) for pid, s in hits if known.get(pid, {}).get('category') == category]
            if len(hits) >= k or fetch >= len(self.index):
                return hits[:k]
            fetch *= 4


def _file_state(path: str) -> Dict[str, Optional[int]]:
    if not os.path.isfile(path):
        return dict(manifest_bytes=None, manifest_mtime=None)
    stat = os.stat(path)
    return dict(manifest_bytes=int(stat.st_size), manifest_mtime=int(stat.st_mtime))
