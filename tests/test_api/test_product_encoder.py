"""ProductEncoder.encode: the vectors of tools/extract_features.py, from records given in any form."""
import io
import json

import numpy as np
import pytest
import soundfile
from PIL import Image

from m5mm.api import ProductEncoder
from m5mm.datasets import MediaError
from m5mm.evaluation import load_features
from tests.script_module import load_script


def _tool(name):
    return load_script(f'tools/{name}.py')


@pytest.fixture(scope='module')
def encoder(tiny_model_dir):
    return ProductEncoder.from_pretrained(tiny_model_dir, device='cpu')


def _records(demo_root, split):
    lines = (demo_root / 'manifest.jsonl').read_text().splitlines()
    return [r for r in map(json.loads, lines) if r['split'] == split]


@pytest.mark.parametrize('modalities', [None, 'text'])
def test_vectors_equal_tools_extract_features(encoder, tiny_work_dir, demo_root, tmp_path, modalities):
    out = tmp_path / 'gallery.npz'
    extra = ['--modalities', modalities] if modalities else []
    # the run's config.json, read as data (the config.py dump lists the modalities sorted, not in training order)
    _tool('extract_features').main([str(tiny_work_dir / 'config.json'), str(tiny_work_dir), '--split', 'gallery',
                                    '--out', str(out)] + extra)
    expected = load_features(str(out))
    records = _records(demo_root, 'gallery')
    got = encoder.encode(records, data_root=str(demo_root), batch_size=16, progress=False,
                         modalities=[modalities] if modalities else None)
    assert got.ids == expected['ids'] == [r['id'] for r in records]
    if modalities is None:   # the same batches: bit-identical
        np.testing.assert_array_equal(got.features, expected['features'])
    else:                    # the other modalities are not even loaded: padding shapes differ, not the result
        np.testing.assert_allclose(got.features, expected['features'], rtol=1e-5, atol=1e-5)
    for m, flags in expected['present'].items():
        np.testing.assert_array_equal(got.present[m], flags)
    rebatched = encoder.encode(records, data_root=str(demo_root), batch_size=5, progress=False,
                               modalities=[modalities] if modalities else None)
    np.testing.assert_allclose(rebatched.features, expected['features'], rtol=1e-5, atol=1e-5)


def test_media_as_bytes_pil_arrays_and_waveforms_equal_their_files(encoder, demo_root):
    record = next(r for r in _records(demo_root, 'gallery') if r['image'] and r['audio'] and r['video'])
    paths = {m: demo_root / record[m] for m in ('image', 'video', 'audio')}
    wave, rate = soundfile.read(str(paths['audio']), dtype='float32')
    image = Image.open(paths['image'])
    absolute = dict(record, **{m: str(p) for m, p in paths.items()})
    variants = [absolute,
                dict(record, **{m: p.read_bytes() for m, p in paths.items()}),
                dict(absolute, image=image, audio=(wave, rate)),
                dict(absolute, image=np.asarray(image.convert('RGB')))]
    vectors = encoder.encode(variants, batch_size=4, progress=False).features
    reference = encoder.encode([record], data_root=str(demo_root), progress=False).features[0]
    for row in vectors:
        np.testing.assert_allclose(row, reference, rtol=1e-5, atol=1e-5)


def test_single_modality_queries(encoder, demo_root):
    texts = ['red sneakers', 'teapot']
    np.testing.assert_array_equal(encoder.encode_text(texts),
                                  encoder.encode([{'text': t} for t in texts], progress=False).features)
    image = demo_root / 'images' / 'D00000.jpg'
    vectors = encoder.encode_image([image, image.read_bytes()])
    assert vectors.shape == (2, encoder.encode_text(['x']).shape[1])
    np.testing.assert_array_equal(vectors[0], vectors[1])
    only_text = encoder.encode([dict(id='a', text='red sneakers', image=str(image))], modalities=['text'],
                               progress=False)
    np.testing.assert_array_equal(only_text.features[0], encoder.encode_text(['red sneakers'])[0])
    assert not only_text.present['image'][0] and only_text.present['text'][0]


def test_bad_input_is_a_clear_error(encoder, demo_root):
    with pytest.raises(MediaError, match="corrupt image: image of record 'x'"):
        encoder.encode([{'id': 'x', 'image': b'not an image at all'}], progress=False)
    absent = encoder.encode([{'id': 'x', 'text': 'shoes', 'image': b'not an image'}], on_error='absent',
                            progress=False)
    assert not absent.present['image'][0] and absent.present['text'][0]
    with pytest.raises(ValueError, match="record 'e' has none of the modalities"):
        encoder.encode([{'id': 'e', 'text': '   '}], progress=False)
    with pytest.raises(ValueError, match='choose from'):
        encoder.encode([{'text': 'a'}], modalities=['smell'], progress=False)
    with pytest.raises(TypeError, match='image must be a path'):
        encoder.encode([{'image': 3.5}], progress=False)
    with pytest.raises(Exception, match='outside'):
        encoder.encode([{'image': '../../etc/passwd'}], data_root=str(demo_root), progress=False)
    buffer = io.BytesIO()
    Image.new('RGB', (8, 8)).save(buffer, 'PNG')
    assert encoder.encode_image([buffer.getvalue()]).shape[0] == 1


def test_manifest_records_without_data_root_name_the_path_and_the_fix(encoder, demo_root, tmp_path, monkeypatch,
                                                                      caplog):
    """Manifest records' media paths are relative to the catalogue: without data_root= the error names the
    path it tried and the folder, and points at data_root= (nothing is logged as 'treated as absent')."""
    from m5mm.api import build_index
    records = _records(demo_root, 'query')[:3]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MediaError) as info:
        build_index(encoder, records, progress=False)
    message = str(info.value)
    modality = message.split(': ')[1].split(' of record ')[0]
    assert message.startswith(f"missing file: {modality} of record {records[0]['id']!r}: no file at ")
    assert str(tmp_path / records[0][modality]) in message and 'data_root=' in message
    assert 'treated as absent' not in caplog.text
    absent = encoder.encode(records, on_error='absent', progress=False)   # one warning, with the same hint
    assert not absent.present[modality].any() and 'data_root=' in caplog.text
    index = build_index(encoder, records, data_root=str(demo_root), progress=False)
    assert len(index) == 3


def test_a_photo_for_a_model_that_reads_cached_features_is_refused_not_ignored(tiny_work_dir, demo_root):
    """A model exported from a run on cached tower features reads ``image_feat``: a query's raw ``image`` was
    dropped without a word (a text + photo query searched with the text alone)."""
    cached = ProductEncoder.from_pretrained(tiny_work_dir, device='cpu', cfg_options={
        'test_dataloader.dataset.modalities.image': dict(source='feature', pipeline=[dict(type='LoadFeature')])})
    assert cached.preprocessor.specs['image'].record_field == 'image_feat'
    photo = str(sorted((demo_root / 'images').glob('*.jpg'))[0])
    with pytest.raises(ValueError, match="gives 'image', but this model reads image as cached tower features"):
        cached.encode([dict(id='q', text='red sneakers', image=photo)], progress=False)
    with pytest.raises(ValueError, match=r'tools/export_model.py RUN --config CONFIG'):
        cached.encode_image([photo])
    # a line of a cached-features manifest (image_feat null: nothing cached for it) is read as before (collated
    # only: the test model's image tower takes pixels)
    batch = cached.collate_records([dict(id='q', text='red sneakers', image=photo, image_feat=None)])
    assert batch['text']['present'].tolist() == [True] and batch['image']['present'].tolist() == [False]
