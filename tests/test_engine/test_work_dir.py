"""A work dir belongs to one run: a second run fails at once, a killed run's lock never blocks."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from m5mm.checkpoint.work_dir import WorkDirInUseError, WorkDirLock
from tests.conftest import REPO

HOLD = ('import sys, time\n'
        'from m5mm.checkpoint.work_dir import WorkDirLock\n'
        'lock = WorkDirLock(sys.argv[1]).acquire()\n'
        'print("locked", flush=True)\n'
        'time.sleep(120)\n')


def _holder(work_dir):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, '-c', HOLD, str(work_dir)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == 'locked'
    return proc


def test_a_second_run_fails_at_once_naming_the_pid(tmp_path):
    holder = _holder(tmp_path)
    try:
        tic = time.perf_counter()
        with pytest.raises(WorkDirInUseError, match=f'in use by pid {holder.pid}'):
            WorkDirLock(tmp_path).acquire()
        assert time.perf_counter() - tic < 5
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_of_a_killed_run_never_blocks(tmp_path):
    holder = _holder(tmp_path)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert str(holder.pid) in (tmp_path / '.m5mm.lock').read_text()   # the stale pid is still written there
    lock = WorkDirLock(tmp_path).acquire()
    assert lock.held and str(os.getpid()) in (tmp_path / '.m5mm.lock').read_text()
    lock.release()
    WorkDirLock(tmp_path).acquire().release()   # released: taken again at once


def test_release_frees_the_lock_while_forked_children_still_hold_the_file(tmp_path):
    """DataLoader workers are forked with the lock file open; the run's release must still free it."""
    lock = WorkDirLock(tmp_path).acquire()
    child = os.fork()
    if child == 0:   # a worker that outlives the run's release
        time.sleep(5)
        os._exit(0)
    try:
        lock.release()
        WorkDirLock(tmp_path).acquire().release()
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)


def test_training_into_a_work_dir_in_use_fails_before_writing(demo_root, tiny_config, tmp_path):
    from m5mm.engine import run_training
    holder = _holder(tmp_path)
    try:
        with pytest.raises(WorkDirInUseError, match=f'in use by pid {holder.pid}'):
            run_training(tiny_config, work_dir=str(tmp_path), cfg_options={'data_root': str(demo_root)})
    finally:
        holder.kill()
        holder.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['.m5mm.lock']   # no config.py, log or metrics
