"""A saved search index is checked before any of its files is parsed: damage, swaps and pickles fail by name."""
import json
import logging
import os
import pickle

import numpy as np
import pytest

from m5mm.evaluation.search import IndexFolderError, SearchIndex
from m5mm.evaluation.search.index_files import describe_index_files


def _saved(tmp_path, backend='torch', index_type='flat') -> str:
    if backend == 'faiss':
        pytest.importorskip('faiss')
    rng = np.random.default_rng(0)
    index = SearchIndex.build(rng.normal(size=(60, 8)).astype(np.float32), [f'p{i}' for i in range(60)],
                              backend=backend, index_type=index_type, metric='cosine')
    return index.save(str(tmp_path / f'{backend}_{index_type}'))


def _flip_a_byte(path: str, offset: int = -3) -> None:
    data = bytearray(open(path, 'rb').read())
    data[offset] ^= 0x01
    open(path, 'wb').write(bytes(data))


def _rewrite_meta(directory: str, **changes) -> None:
    path = os.path.join(directory, 'meta.json')
    meta = json.load(open(path))
    meta.update(changes)
    json.dump(meta, open(path, 'w'))


@pytest.mark.parametrize('backend,name', [('torch', 'ids.npy'), ('torch', 'vectors.npy'), ('faiss', 'index.faiss')])
def test_a_flipped_byte_fails_naming_the_file(tmp_path, backend, name):
    directory = _saved(tmp_path, backend)
    size = os.path.getsize(os.path.join(directory, name))
    _flip_a_byte(os.path.join(directory, name))
    assert os.path.getsize(os.path.join(directory, name)) == size
    with pytest.raises(IndexFolderError, match=f'{name}: sha256 differs'):
        SearchIndex.load(directory)


def test_a_pickled_ids_file_is_refused_without_unpickling(tmp_path):
    directory = _saved(tmp_path)
    marker = tmp_path / 'unpickled'

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    ids = np.empty(60, dtype=object)
    ids[0] = Payload()
    with open(os.path.join(directory, 'ids.npy'), 'wb') as handle:
        np.save(handle, ids, allow_pickle=True)
    _rewrite_meta(directory, files=describe_index_files(directory, ['ids.npy', 'vectors.npy']))  # digests match
    with pytest.raises(IndexFolderError, match='ids.npy: not a readable .npy array'):
        SearchIndex.load(directory)
    assert not marker.exists()
    pickle.loads(pickle.dumps(Payload()))   # the payload is real: plain unpickling runs it
    assert marker.exists()


@pytest.mark.parametrize('changes,message', [
    (dict(options={'__class__': 1}), "unknown or invalid option '__class__'"),
    (dict(options={'nprobe': 'x'}), "unknown or invalid option 'nprobe'"),
    (dict(dim=-1), "invalid 'dim'"),
    (dict(backend='pickle'), "invalid 'backend'"),
])
def test_malformed_meta_is_refused_before_anything_is_built(tmp_path, changes, message):
    directory = _saved(tmp_path)
    _rewrite_meta(directory, **changes)
    with pytest.raises(IndexFolderError, match=message):
        SearchIndex.load(directory)


def test_meta_that_is_not_json_names_the_file(tmp_path):
    directory = _saved(tmp_path)
    open(os.path.join(directory, 'meta.json'), 'wb').write(b'\xff\xfe{')
    with pytest.raises(IndexFolderError, match='meta.json: not valid JSON'):
        SearchIndex.load(directory)


def test_vectors_of_another_size_are_refused(tmp_path):
    directory = _saved(tmp_path)
    np.save(os.path.join(directory, 'vectors.npy'), np.zeros((60, 4), np.float32))
    _rewrite_meta(directory, files=describe_index_files(directory, ['ids.npy', 'vectors.npy']))
    with pytest.raises(IndexFolderError, match='vectors of size 4, meta.json says 8'):
        SearchIndex.load(directory)


def test_an_index_written_before_digests_loads_with_a_warning(tmp_path, caplog):
    directory = _saved(tmp_path)
    expected = SearchIndex.load(directory).search_by_id('p3', 5).ids
    meta = json.load(open(os.path.join(directory, 'meta.json')))
    meta.pop('files')
    json.dump(meta, open(os.path.join(directory, 'meta.json'), 'w'))
    with caplog.at_level(logging.WARNING, logger='m5mm'):
        assert SearchIndex.load(directory).search_by_id('p3', 5).ids == expected
    assert 'lists no file digests' in caplog.text
