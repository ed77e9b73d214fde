"""Malicious pickles for the planted-pickle tests: unpickling one creates a marker file.

``Plant(marker)`` pickles to "call open(marker, 'w')": any loader that unpickles objects runs
it and the marker appears. :func:`assert_live` proves a planted file really is such an exploit
(by unpickling its payload on purpose, in the test only), so a test that finds no marker after
m5mm read the file shows that m5mm refused it, not that the payload was harmless.
"""
from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import torch


class Plant:
    """Unpickles to ``open(marker, 'w')``, creating ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def plant_torch_file(path: Path, marker: Path) -> Path:
    """A torch file (zip) whose pickle runs the payload (looks like a state dict otherwise)."""
    torch.save({'state': {'step': 1}, 'payload': Plant(marker)}, str(path))
    return path


def plant_raw_pickle(path: Path, marker: Path) -> Path:
    """A bare pickle of the payload, where m5mm expects JSON or safetensors."""
    path.write_bytes(pickle.dumps({'payload': Plant(marker)}))
    return path


def assert_live(path: Path, marker: Path) -> None:
    """Unpickle ``path``'s payload on purpose and check that it creates ``marker`` (then remove it)."""
    data = Path(path).read_bytes()
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            data = archive.read(next(n for n in archive.namelist() if n.endswith('data.pkl')))
    assert not Path(marker).exists()
    pickle.loads(data)
    assert Path(marker).exists(), 'the planted payload did not run when unpickled'
    Path(marker).unlink()


def plant_in_checkpoint(checkpoint: Path, name: str, marker: Path, *, raw: bool = False) -> Path:
    """Replace ``checkpoint/name`` with a planted file and record its new size and sha256 in ``meta.json``,
    as an attacker with write access would, so the file reaches the loader instead of the integrity check."""
    path = Path(checkpoint) / name
    (plant_raw_pickle if raw else plant_torch_file)(path, marker)
    record_in_meta(checkpoint, name)
    return path


def record_in_meta(checkpoint: Path, name: str) -> None:
    """Record ``checkpoint/name``'s current size (and sha256, where meta.json keeps digests) in ``meta.json``."""
    from m5mm.utils.files import sha256_file
    path = Path(checkpoint) / name
    meta_path = Path(checkpoint) / 'meta.json'
    meta = json.loads(meta_path.read_text())
    meta['files'][name] = path.stat().st_size
    if 'sha256' in meta:
        meta['sha256'][name] = sha256_file(path)
    meta_path.write_text(json.dumps(meta))


def _tensors(value) -> list:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _tensors(item)]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _tensors(item)]
    return []


def flip_a_stored_byte(path: Path) -> int:
    """Damage ``path`` in place, size unchanged: flip one bit in the stored bytes of its largest tensor
    (so the file still loads, with one wrong value). Returns the offset changed."""
    path = Path(path)
    if path.suffix == '.safetensors':
        from safetensors.torch import load_file
        tensors = list(load_file(str(path)).values())
    else:
        tensors = _tensors(torch.load(str(path), weights_only=True))
    largest = max(tensors, key=lambda t: t.numel() * t.element_size())
    data = bytearray(path.read_bytes())
    at = data.find(largest.contiguous().view(torch.uint8).numpy().tobytes())
    assert at > 0, f'the bytes of a tensor of {path} were not found in the file'
    at += largest.numel() * largest.element_size() // 2
    data[at] ^= 0x01
    path.write_bytes(bytes(data))
    return at
