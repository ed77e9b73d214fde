"""generation_lock: processes that start together generate a target once, and the lock is filelock's."""
from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest
from filelock import FileLock, Timeout

from m5mm.datasets import generation_lock


def _rank(target: Path, log: Path, out: Path) -> None:
    with generation_lock(target):
        if not target.is_file():
            with open(log, 'a') as handle:
                handle.write('generated\n')
            time.sleep(0.5)                      # a slow generator: the others must wait, not regenerate
            target.write_text('data')
    out.write_text(target.read_text())


def test_ranks_generate_once_and_all_read_the_result(tmp_path):
    target, log = tmp_path / 'root' / 'catalogue.txt', tmp_path / 'log.txt'
    context = multiprocessing.get_context('fork')    # the children share this process's imports: fast
    ranks = [context.Process(target=_rank, args=(target, log, tmp_path / f'out{i}')) for i in range(3)]
    for rank in ranks:
        rank.start()
    for rank in ranks:
        rank.join(timeout=120)
    assert [rank.exitcode for rank in ranks] == [0, 0, 0]
    assert [(tmp_path / f'out{i}').read_text() for i in range(3)] == ['data'] * 3
    assert log.read_text() == 'generated\n'
    assert (tmp_path / 'root' / 'catalogue.txt.lock').is_file()   # the lock file sits next to the target


def test_lock_path_matches_the_tokenizer_and_manifest_convention(tmp_path):
    with generation_lock(tmp_path / 'data'):
        try:                                   # a plugin locking DATA_ROOT + '.lock' by hand waits for us
            FileLock(str(tmp_path / 'data.lock'), timeout=0).acquire()
            raise AssertionError('the lock was not held')
        except Timeout:
            pass


def test_the_old_private_lock_still_works_and_warns(tmp_path):
    from m5mm.datasets.file_lock import file_lock
    with pytest.warns(FutureWarning, match='generation_lock'):
        lock = file_lock(str(tmp_path / 'data.lock'))
    with lock:
        with pytest.raises(Timeout):
            FileLock(str(tmp_path / 'data.lock'), timeout=0).acquire()
