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
    """Replace ``checkpoint/name`` with a planted file and record its new size in ``meta.json``, as an
    attacker with write access would, so the file reaches the loader instead of the size check."""
    path = Path(checkpoint) / name
    (plant_raw_pickle if raw else plant_torch_file)(path, marker)
    meta_path = Path(checkpoint) / 'meta.json'
    meta = json.loads(meta_path.read_text())
    meta['files'][name] = path.stat().st_size
    meta_path.write_text(json.dumps(meta))
    return path
