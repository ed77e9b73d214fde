"""Atomic, resumable checkpoints (what each holds: :mod:`m5mm.checkpoint.parts`).

A checkpoint is written to ``step_XXXXXXXX.tmp``; every file is fsynced, ``meta.json`` (listing
each file with its size and sha256, :mod:`m5mm.checkpoint.integrity`) is written last, and
the directory is renamed into place. Replacing an existing step renames the old directory away
first and deletes it after, so a kill at any moment leaves a complete checkpoint under every
``step_*`` name; :func:`recover_interrupted_saves` tidies what a killed save left. Only complete
directories (with ``meta.json``) are resumed; a ``step_*`` directory without one is skipped with
a warning.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from m5mm.checkpoint.integrity import DIGESTS_KEY
from m5mm.checkpoint.parts import FORMAT, META_FILE, TrainingParts, apply_parts, read_parts, write_parts
from m5mm.checkpoint.safe_load import CheckpointError, read_json
from m5mm.utils.distributed import agree_on_error
from m5mm.utils.files import fsync_dir, fsync_tree, sha256_file, write_json

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = 'checkpoints'
CONFIG_JSON = 'config.json'
_NAME = re.compile(r'^step_(\d+)$')
_REPLACED = '.replaced'


def list_checkpoints(work_dir: str, *, quiet: bool = False) -> List[Path]:
    """Complete checkpoints under ``work_dir/checkpoints``, oldest first.

    A ``step_*`` directory without ``meta.json`` is skipped with a warning (unless ``quiet``).
    """
    root = Path(work_dir) / CHECKPOINT_DIR
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = _NAME.match(path.name)
        if not match or not path.is_dir():
            continue
        if (path / META_FILE).is_file():
            found.append((int(match.group(1)), path))
        elif not quiet:
            logger.warning('Skipping checkpoint %s: it has no %s (written last by a save, so the save did not '
                           'finish, or the file was removed); it is neither resumed nor loaded', path, META_FILE)
    return [p for _, p in sorted(found)]


def latest_checkpoint(work_dir: str) -> Optional[Path]:
    """The newest complete checkpoint in ``work_dir``, or None."""
    checkpoints = list_checkpoints(work_dir)
    return checkpoints[-1] if checkpoints else None


def resume_candidates(work_dir: str, resume: Optional[str]) -> List[Path]:
    """The checkpoints ``--resume`` may restore, in the order to try them.

    ``resume='auto'``: every complete checkpoint of ``work_dir``, newest first (an older one is used
    only when the newer cannot be restored); a path: that checkpoint only; None: none.
    """
    if resume is None:
        return []
    if resume == 'auto':
        return list_checkpoints(work_dir)[::-1]
    path = Path(resume)
    if not (path / META_FILE).is_file():
        raise FileNotFoundError(f'{path} is not a complete m5mm checkpoint (no {META_FILE}); '
                                f'complete ones in {work_dir}: {[p.name for p in list_checkpoints(work_dir)]}')
    return [path]


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
    if path.parent.name == CHECKPOINT_DIR and (path / META_FILE).is_file():
        return path.parent.parent
    return path


def check_resumable(path: Path, accelerator) -> None:
    """Fail clearly when ``path`` was written by another number of processes."""
    meta = read_json(Path(path) / META_FILE)
    saved = meta.get('processes') if isinstance(meta, dict) else None
    if saved is None or saved == accelerator.num_processes:
        return
    if meta.get('deepspeed'):
        raise RuntimeError(
            f'{path} is a DeepSpeed ZeRO checkpoint of {saved} processes; DeepSpeed can only resume its '
            f'partitioned optimizer state with the same number ({accelerator.num_processes} now). Resume with '
            f'--num_processes {saved}, or start a new run from its weights: python tools/convert_checkpoint.py '
            f'{path} --out weights.safetensors, then --cfg-options load_from=weights.safetensors')
    raise RuntimeError(
        f'{path} was written by {saved} processes and this run has {accelerator.num_processes}: the data '
        f'position and random states are per process, so it resumes exactly only with {saved}. Resume with '
        f'--num_processes {saved}, or start a new run from its weights with --cfg-options load_from={path}')


def recover_interrupted_saves(work_dir: str) -> None:
    """Tidy what a killed save left (call on the main process only, with the work dir locked): a step
    renamed away but not replaced is put back; unfinished ``.tmp`` directories are deleted."""
    root = Path(work_dir) / CHECKPOINT_DIR
    if not root.is_dir():
        return
    for path in root.iterdir():
        if path.name.endswith(_REPLACED):
            final = path.with_name(path.name[:-len(_REPLACED)])
            if not final.exists() and (path / META_FILE).is_file():
                os.replace(path, final)
            else:
                shutil.rmtree(path, ignore_errors=True)
        elif path.name.endswith('.tmp') and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


class CheckpointManager:
    """Saves, restores and prunes the checkpoints of one run.

    Args:
        accelerator: the run's ``accelerate.Accelerator``.
        work_dir: checkpoints go to ``work_dir/checkpoints``.
        parts: the prepared model, optimizer and scheduler.
        max_keep: complete checkpoints kept (older ones deleted; <= 0 keeps all).
    """

    def __init__(self, accelerator, work_dir: str, *, parts: TrainingParts, max_keep: int = 3) -> None:
        self.accelerator = accelerator
        self.root = Path(work_dir) / CHECKPOINT_DIR
        self.parts = parts
        self.max_keep = max_keep

    def save(self, step: int, *, trainer_state: Dict[str, Any], meta: Dict[str, Any], config_text: str,
             config_json: Dict[str, Any]) -> Path:
        """Write checkpoint ``step`` atomically on every process; returns its directory."""
        final, tmp = self.root / f'step_{step:08d}', self.root / f'step_{step:08d}.tmp'
        acc = self.accelerator
        if acc.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        acc.wait_for_everyone()
        written = write_parts(tmp, self.parts, trainer_state)
        fsync_tree(tmp, [] if self.parts.deepspeed and acc.is_local_main_process else list(written))
        acc.wait_for_everyone()
        if acc.is_main_process:
            (tmp / 'config.py').write_text(config_text)
            write_json(tmp / CONFIG_JSON, config_json)
            fsync_tree(tmp, [tmp / 'config.py'])
            self._write_meta(tmp, dict(meta, format=FORMAT, step=step, deepspeed=self.parts.deepspeed), written)
            self._replace(tmp, final)
            self._prune()
        acc.wait_for_everyone()
        return final

    @staticmethod
    def _write_meta(tmp: Path, meta: Dict[str, Any], written: Dict[Path, Optional[str]]) -> None:
        """``meta.json``: ``meta`` with every file's size and sha256 (taken while writing where this process
        wrote it; else read once from the file: small JSON and random states, other processes' files,
        DeepSpeed's own files)."""
        known = {p.relative_to(tmp).as_posix(): digest for p, digest in written.items() if digest}
        paths = [p for p in sorted(tmp.rglob('*')) if p.is_file()]
        files = {p.relative_to(tmp).as_posix(): p.stat().st_size for p in paths}
        digests = {name: known.get(name) or sha256_file(tmp / name) for name in files}
        write_json(tmp / META_FILE, dict(meta, files=files, **{DIGESTS_KEY: digests}))
        fsync_dir(tmp)

    def _replace(self, tmp: Path, final: Path) -> None:
        old = final.with_name(final.name + _REPLACED)
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
        os.replace(tmp, final)
        fsync_dir(self.root)
        shutil.rmtree(old, ignore_errors=True)

    def load(self, path: Path) -> Dict[str, Any]:
        """Restore checkpoint ``path`` into the model, optimizer, scheduler and random generators.

        Every process reads and checks its parts first; if any part on any process cannot be
        restored, every process raises :class:`CheckpointError` naming the file and nothing is changed.

        Returns:
            This process's trainer state (``TrainState.state_dict()`` plus ``accelerator_step``).
        """
        path = Path(path)
        loaded, error = None, None
        try:
            loaded = read_parts(path, self.parts)
        except CheckpointError as exc:
            error = f'process {self.accelerator.process_index}: {exc}'
        error = agree_on_error(error)
        if error:
            raise CheckpointError(error)
        return apply_parts(path, self.parts, loaded)

    def _prune(self) -> None:
        if self.max_keep <= 0:
            return
        for old in list_checkpoints(str(self.root.parent), quiet=True)[:-self.max_keep]:
            shutil.rmtree(old, ignore_errors=True)
