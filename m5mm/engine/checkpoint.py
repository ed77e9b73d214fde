"""Atomic, resumable checkpoints.

A checkpoint is a directory written by ``accelerator.save_state`` (model, optimizer, scheduler,
grad scaler, RNG states, the :class:`TrainState` with the data position; DeepSpeed's own files
under DeepSpeed) plus ``meta.json`` and the resolved config. It is written to
``step_XXXXXXXX.tmp`` and renamed when complete, so a run killed while saving leaves the
previous checkpoint usable; only complete directories (with ``meta.json``) are ever resumed.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import List, Optional, Union

CHECKPOINT_DIR = 'checkpoints'
_NAME = re.compile(r'^step_(\d+)$')
META_FILE = 'meta.json'


def list_checkpoints(work_dir: str) -> List[Path]:
    """Complete checkpoints under ``work_dir/checkpoints``, oldest first."""
    root = Path(work_dir) / CHECKPOINT_DIR
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _NAME.match(p.name))
             and (p / META_FILE).is_file()]
    return [p for _, p in sorted(found)]


def latest_checkpoint(work_dir: str) -> Optional[Path]:
    """The newest complete checkpoint in ``work_dir``, or None."""
    checkpoints = list_checkpoints(work_dir)
    return checkpoints[-1] if checkpoints else None


def resolve_resume(work_dir: str, resume: Optional[str]) -> Optional[Path]:
    """Turn the ``--resume`` argument into a checkpoint directory.

    ``resume='auto'`` takes the latest checkpoint in ``work_dir`` (None when there is none);
    a path must be a complete checkpoint directory.
    """
    if resume is None:
        return None
    if resume == 'auto':
        return latest_checkpoint(work_dir)
    path = Path(resume)
    if not (path / META_FILE).is_file():
        raise FileNotFoundError(f'{path} is not a complete m5mm checkpoint (no {META_FILE}); '
                                f'complete ones in {work_dir}: {[p.name for p in list_checkpoints(work_dir)]}')
    return path


def resolve_checkpoint(checkpoint: Union[str, Path]) -> Path:
    """A weights file or checkpoint directory as is; a work dir -> its latest checkpoint."""
    path = Path(checkpoint)
    if not path.exists():
        raise FileNotFoundError(f'no checkpoint at {path}')
    return path if path.is_file() else (latest_checkpoint(str(path)) or path)


def checkpoint_work_dir(checkpoint: Union[str, Path]) -> Path:
    """The work dir of a checkpoint: ``WORK/checkpoints/step_N`` -> ``WORK``; a file -> its folder."""
    path = Path(checkpoint).resolve()
    if path.is_file():
        return path.parent
    if path.parent.name == 'checkpoints' and (path / 'meta.json').is_file():
        return path.parent.parent
    return path


def check_resumable(path: Path, accelerator) -> None:
    """Fail clearly when DeepSpeed cannot load ``path`` with this many processes."""
    meta = json.loads((Path(path) / META_FILE).read_text())
    saved = meta.get('processes')
    deepspeed = (Path(path) / 'pytorch_model').is_dir() and (Path(path) / 'latest').is_file()
    if deepspeed and saved is not None and saved != accelerator.num_processes:
        raise RuntimeError(
            f'{path} is a DeepSpeed ZeRO checkpoint of {saved} processes; DeepSpeed can only resume its '
            f'partitioned optimizer state with the same number ({accelerator.num_processes} now). Resume with '
            f'--num_processes {saved}, or start a new run from its weights: python tools/convert_checkpoint.py '
            f'{path} --out weights.pt, then --cfg-options load_from=weights.pt')


class CheckpointManager:
    """Saves and prunes checkpoints of one run through an ``accelerate.Accelerator``."""

    def __init__(self, accelerator, work_dir: str, *, max_keep: int = 3) -> None:
        self.accelerator = accelerator
        self.root = Path(work_dir) / CHECKPOINT_DIR
        self.max_keep = max_keep

    def save(self, step: int, meta: dict, config_text: str) -> Path:
        """Write checkpoint ``step`` atomically on every rank; returns its directory."""
        final = self.root / f'step_{step:08d}'
        tmp = self.root / f'step_{step:08d}.tmp'
        acc = self.accelerator
        if acc.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        acc.wait_for_everyone()
        # DeepSpeed would store frozen parameters besides the module state (pretrained towers leave theirs out)
        extra = {'exclude_frozen_parameters': True} if str(acc.distributed_type) == 'DistributedType.DEEPSPEED' else {}
        acc.save_state(str(tmp), safe_serialization=False, **extra)  # tied and shared weights (text/table BERT)
        acc.wait_for_everyone()
        if acc.is_main_process:
            (tmp / 'config.py').write_text(config_text)
            with open(tmp / META_FILE, 'w') as f:
                json.dump(meta, f, indent=2)
                f.flush()
                os.fsync(f.fileno())
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            self._prune()
        acc.wait_for_everyone()
        return final

    def load(self, path: Path) -> dict:
        """Restore every registered state from ``path``; returns its ``meta.json``."""
        self.accelerator.load_state(str(path))
        return json.loads((Path(path) / META_FILE).read_text())

    def _prune(self) -> None:
        if self.max_keep <= 0:
            return
        for old in list_checkpoints(str(self.root.parent))[:-self.max_keep]:
            shutil.rmtree(old, ignore_errors=True)
