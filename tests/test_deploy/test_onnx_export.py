"""ONNX export: each tower graph and the fusion graph equal the torch model (missing modalities included),
the onnxruntime ProductEncoder backend, int8 quantisation, and a folder loaded as verified data only."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

pytest.importorskip('onnxruntime')

from m5mm.api import ProductEncoder  # noqa: E402
from m5mm.deploy import OnnxBackbone, OnnxFolderError, export_onnx  # noqa: E402
from m5mm.deploy.onnx_export import MANIFEST, packed_stacks  # noqa: E402
from m5mm.deploy.parity import check_parity, covering_records, random_subsets, record_fields  # noqa: E402
from tests.test_api.test_product_encoder import _tool  # noqa: E402

#: the tolerance docs/inference.md states for float32 graphs (measured: a few 1e-7)
TOLERANCE = 1e-4


def _records(demo_root, count=16):
    lines = (demo_root / 'manifest.jsonl').read_text().splitlines()
    return [json.loads(line) for line in lines[:count]]


@pytest.fixture(scope='module')
def torch_encoder(tiny_work_dir):
    return ProductEncoder.from_pretrained(tiny_work_dir, device='cpu')


@pytest.fixture(scope='module')
def onnx_dir(torch_encoder, demo_root, tmp_path_factory):
    records = covering_records(_records(demo_root, 40), record_fields(torch_encoder), count=4)
    return export_onnx(torch_encoder, tmp_path_factory.mktemp('onnx') / 'onnx', records=records,
                       data_root=str(demo_root))


@pytest.fixture(scope='module')
def onnx_encoder(tiny_work_dir, onnx_dir):
    return ProductEncoder.from_pretrained(tiny_work_dir, backend='onnx', onnx_dir=onnx_dir)


def test_the_folder_has_one_graph_per_tower_and_one_for_fusion_with_dynamic_axes(torch_encoder, onnx_dir):
    manifest = json.loads((onnx_dir / MANIFEST).read_text())
    modalities = torch_encoder.model.modalities
    expected = sorted([f'tower_{m}.onnx' for m in modalities] + ['fusion.onnx'])
    assert sorted(p.name for p in onnx_dir.glob('*.onnx')) == expected
    inputs = {i['name']: i['shape'] for i in manifest['graphs']['text']['inputs']}
    assert inputs['text.input_ids'] == ['batch', 'text_len'] and inputs['text.present'] == ['batch']
    fusion = {i['name']: i['shape'] for i in manifest['graphs']['fusion']['inputs']}
    assert fusion['encoded.audio.present'] == ['batch']                       # the presence masks
    assert fusion['encoded.video.mask'] == ['batch', 'video_tokens']
    assert manifest['fingerprint'] == torch_encoder.fingerprint


@torch.no_grad()
def test_every_tower_graph_equals_its_torch_encoder(torch_encoder, onnx_dir, demo_root):
    runner = OnnxBackbone(onnx_dir)
    backbone = torch_encoder.model.backbone
    for count in (3, 7):    # another batch size and other sequence lengths than the traced ones
        batch = torch_encoder.collate_records(_records(demo_root)[-count:], data_root=str(demo_root))
        for m in backbone.modalities:
            expected = backbone.encoders[m](batch[m])
            got = runner.sessions[m].run(None, runner._feeds(m, batch[m]))
            for name, value in zip(('tokens', 'mask', 'pooled', 'present'), got):
                np.testing.assert_allclose(value, getattr(expected, name).numpy(), rtol=0, atol=TOLERANCE,
                                           err_msg=f'{m}.{name}')
        assert not all(batch[m]['present'].all() for m in backbone.modalities)   # some modality is missing


def test_product_vectors_equal_torch_with_random_subsets_of_modalities(torch_encoder, onnx_encoder, demo_root):
    records = _records(demo_root)
    report = check_parity(torch_encoder, onnx_encoder, records, data_root=str(demo_root), seeds=(0, 1),
                          batch_size=5)
    assert report['max_abs_diff'] < TOLERANCE
    assert all(row['top1_same'] == 1.0 and row['rows'] == len(records) for row in report['runs'].values())
    subsets = random_subsets(records, record_fields(torch_encoder), seed=0)
    assert any(len([f for f in ('image', 'text', 'table', 'video', 'audio') if r.get(f)]) == 1 for r in subsets)
    for kind in ('fused', 'pooled'):
        a = torch_encoder.encode(records, data_root=str(demo_root), kind=kind, progress=False).features
        b = onnx_encoder.encode(records, data_root=str(demo_root), kind=kind, progress=False).features
        np.testing.assert_allclose(a, b, rtol=0, atol=TOLERANCE)
    # a text query runs the text tower only (the others get an empty placeholder)
    np.testing.assert_allclose(onnx_encoder.encode_text(['red sneakers', 'teapot']),
                               torch_encoder.encode_text(['red sneakers', 'teapot']), rtol=0, atol=TOLERANCE)
    assert onnx_encoder.fingerprint == torch_encoder.fingerprint


def test_int8_quantisation_is_smaller_and_close(torch_encoder, onnx_dir, tiny_work_dir, demo_root, tmp_path):
    records = _records(demo_root)
    out = export_onnx(torch_encoder, tmp_path / 'int8', records=records[:6], data_root=str(demo_root),
                      quantize='int8')
    assert json.loads((out / MANIFEST).read_text())['quantize'] == 'int8'
    size = sum(p.stat().st_size for p in out.glob('*.onnx'))
    assert size < 0.8 * sum(p.stat().st_size for p in onnx_dir.glob('*.onnx'))
    quantised = ProductEncoder.from_pretrained(tiny_work_dir, backend='onnx', onnx_dir=out)
    a = torch_encoder.encode(records, data_root=str(demo_root), progress=False).features
    b = quantised.encode(records, data_root=str(demo_root), progress=False).features
    assert 1e-6 < np.abs(a - b).max() < 0.1                  # quantised, yet the same vectors to within 0.1
    assert ((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min() > 0.99


def _copy(onnx_dir, tmp_path):
    target = tmp_path / 'copy'
    shutil.copytree(onnx_dir, target)
    return target


def _rehash(folder, name):
    import hashlib
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest['files'][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    (folder / MANIFEST).write_text(json.dumps(manifest))


def test_a_modified_graph_is_refused(onnx_dir, tmp_path):
    folder = _copy(onnx_dir, tmp_path)
    data = bytearray((folder / 'fusion.onnx').read_bytes())
    data[-5] ^= 1
    (folder / 'fusion.onnx').write_bytes(bytes(data))
    with pytest.raises(OnnxFolderError, match='fusion.onnx: sha256 differs'):
        OnnxBackbone(folder)


def test_a_graph_with_external_data_or_a_foreign_operator_is_refused(onnx_dir, tmp_path):
    import onnx
    folder = _copy(onnx_dir, tmp_path)
    model = onnx.load(str(folder / 'tower_text.onnx'))
    onnx.save_model(model, str(folder / 'tower_text.onnx'), save_as_external_data=True, all_tensors_to_one_file=True,
                    location='weights.bin', size_threshold=0)
    _rehash(folder, 'tower_text.onnx')
    with pytest.raises(OnnxFolderError, match='external data'):
        OnnxBackbone(folder)
    folder = _copy(onnx_dir, tmp_path / 'b')
    model = onnx.load(str(folder / 'tower_image.onnx'))
    model.graph.node[0].domain = 'evil.ops'
    onnx.save_model(model, str(folder / 'tower_image.onnx'))
    _rehash(folder, 'tower_image.onnx')
    with pytest.raises(OnnxFolderError, match="evil.ops"):
        OnnxBackbone(folder)


def test_graphs_of_other_weights_are_refused(onnx_dir, tiny_work_dir, tmp_path):
    folder = _copy(onnx_dir, tmp_path)
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest['fingerprint'] = '0' * 64
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(OnnxFolderError, match='exported from other weights'):
        ProductEncoder.from_pretrained(tiny_work_dir, backend='onnx', onnx_dir=folder)
    with pytest.raises(OnnxFolderError, match='no onnx_model.json'):
        ProductEncoder.from_pretrained(tiny_work_dir, backend='onnx', onnx_dir=tmp_path / 'nothing')


def test_the_export_and_check_tools(tiny_model_dir, demo_root, tmp_path, capsys):
    out = tmp_path / 'onnx'
    _tool('export_onnx').main([str(tiny_model_dir), '--out', str(out), '--data-root', str(demo_root)])
    report = _tool('check_onnx').main([str(tiny_model_dir), '--onnx', str(out), '--data-root', str(demo_root),
                                       '--limit', '12', '--seeds', '0', '--json', str(tmp_path / 'r.json')])
    assert report['passed'] and report['max_abs_diff'] < 1e-4
    assert 'PASS' in capsys.readouterr().out
    encoder = ProductEncoder.from_pretrained(tiny_model_dir, backend='onnx', onnx_dir=out)
    assert encoder.backend == 'onnx' and 'onnx' in repr(encoder)
    with pytest.raises(SystemExit):   # an int8 graph is not within the float32 tolerance: exit 1
        _tool('export_onnx').main([str(tiny_model_dir), '--out', str(tmp_path / 'q'), '--data-root',
                                   str(demo_root), '--quantize', 'int8'])
        _tool('check_onnx').main([str(tiny_model_dir), '--onnx', str(tmp_path / 'q'), '--data-root',
                                  str(demo_root), '--limit', '12', '--seeds', '0', '--tolerance', '1e-7'])


def test_a_model_trained_with_token_packing_exports_graphs_that_follow_other_batches(
        tiny_work_dir, demo_root, tmp_path):
    """Packing (``model.pack_tokens``) is switched off while tracing (the padded path gives equal outputs),
    so the graphs keep dynamic token layouts; it is switched on again afterwards."""
    from m5mm.models.layers.token_packing import set_token_packing
    encoder = ProductEncoder.from_pretrained(tiny_work_dir, device='cpu')
    assert set_token_packing(encoder.model)
    records = covering_records(_records(demo_root, 40), record_fields(encoder), count=4)
    out = export_onnx(encoder, tmp_path / 'onnx', records=records, data_root=str(demo_root))
    assert all(stack.pack_tokens for stack in packed_stacks(encoder.model)) and packed_stacks(encoder.model)
    runner, backbone = OnnxBackbone(out), encoder.model.backbone
    batch = encoder.collate_records(_records(demo_root)[-7:], data_root=str(demo_root))
    for m in backbone.modalities:
        with torch.no_grad():
            expected = backbone.encoders[m](batch[m])    # the packed torch tower
        got = runner.sessions[m].run(None, runner._feeds(m, batch[m]))
        present = batch[m]['present'].numpy()   # (packed, absent samples pool to 0: unused values padded)
        np.testing.assert_allclose(got[2][present], expected.pooled.numpy()[present], rtol=0, atol=TOLERANCE,
                                   err_msg=m)
