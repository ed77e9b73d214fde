"""A work dir belongs to one run: an exclusive lock held while training, and the record of its resumes."""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from m5mm.utils.distributed import agree_on_error

LOCK_FILE = '.m5mm.lock'
RESUMES_FILE = 'resumes.jsonl'


class WorkDirInUseError(RuntimeError):
    """Another process holds the work dir's lock."""


class WorkDirLock:
    """An exclusive ``fcntl.flock`` on ``WORK_DIR/.m5mm.lock``, holding the owner's pid.

    The kernel drops the lock when its process ends, however it ends, so the lock of a killed
    run never blocks the next one. A no-op where ``fcntl`` does not exist.
    """

    def __init__(self, work_dir: Path) -> None:
        self.path = Path(work_dir) / LOCK_FILE
        self._handle = None

    def acquire(self) -> 'WorkDirLock':
        """Take the lock now or raise :class:`WorkDirInUseError` naming the holder's pid."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - non-POSIX
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, 'a+')
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or 'unknown'
            handle.close()
            raise WorkDirInUseError(f'work dir {self.path.parent} in use by pid {holder}: another run trains '
                                    f'there. Wait for it to end, or pass another --work-dir') from None
        handle.seek(0)
        handle.truncate()
        handle.write(f'{os.getpid()} ({socket.gethostname()})\n')
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        """Give the lock up (also done by the kernel when the process ends).

        Unlocked explicitly before closing: forked DataLoader workers share the open file, and
        closing only this process's handle would leave the lock held while they live.
        """
        if self._handle is not None:
            import fcntl
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    @property
    def held(self) -> bool:
        return self._handle is not None


def lock_work_dir(accelerator, work_dir: Path) -> Optional[WorkDirLock]:
    """The main process locks ``work_dir``; every process raises :class:`WorkDirInUseError` if it failed."""
    lock, error = None, None
    if accelerator.is_main_process:
        try:
            lock = WorkDirLock(work_dir).acquire()
        except WorkDirInUseError as exc:
            error = str(exc)
    error = agree_on_error(error)
    if error:
        if lock is not None:
            lock.release()
        raise WorkDirInUseError(error)
    return lock


def record_resume(work_dir: Path, *, checkpoint: Path, step: int, cfg_options: Optional[Dict[str, Any]],
                  changed: List[str]) -> None:
    """Append one line to ``WORK_DIR/resumes.jsonl``: when, from where, and what the config changed."""
    line = dict(time=time.strftime('%Y-%m-%dT%H:%M:%S'), checkpoint=str(checkpoint), step=step,
                cfg_options=cfg_options or {}, changed=changed)
    with open(Path(work_dir) / RESUMES_FILE, 'a', encoding='utf-8') as handle:
        handle.write(json.dumps(line, default=repr) + '\n')
