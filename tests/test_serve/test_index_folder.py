"""A catalogue index folder is checked before SQLite or the search index parse any of its files."""
import shutil

import pytest

from m5mm.evaluation.search import IndexFolderError
from m5mm.serve import CatalogueIndex


def test_a_damaged_product_table_fails_before_sqlite_reads_it(tiny_index, tmp_path):
    directory = tmp_path / 'index'
    shutil.copytree(tiny_index.directory, directory)
    path = directory / 'products.sqlite'
    data = bytearray(path.read_bytes())
    data[200] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(IndexFolderError, match='products.sqlite: sha256 differs'):
        CatalogueIndex.load(str(directory))


def test_a_catalogue_json_that_is_not_json_names_the_file(tiny_index, tmp_path):
    from m5mm.serve.catalogue_index import IndexMismatchError
    directory = tmp_path / 'index'
    shutil.copytree(tiny_index.directory, directory)
    (directory / 'catalogue.json').write_bytes(b'\xff not json')
    with pytest.raises(IndexMismatchError, match='catalogue.json: not valid JSON'):
        CatalogueIndex.load(str(directory))
