"""MicroBatcher: concurrent callers share forwards, each gets its own rows, a bad record fails only its caller."""
import threading
import time

import numpy as np
import pytest

from m5mm.serve.micro_batcher import MicroBatcher


def _encode(calls, seconds=0.05):
    def encode(records):
        time.sleep(seconds)   # a forward takes a while: callers arriving meanwhile queue up
        calls.append([r['id'] for r in records])
        if any(r.get('bad') for r in records):
            raise ValueError('unreadable record')
        return np.stack([np.full(3, float(r['value']), np.float32) for r in records])
    return encode


def _concurrently(batcher, groups):
    out, errors, start = {}, {}, threading.Barrier(len(groups))

    def client(name, records):
        start.wait()
        try:
            out[name] = batcher.encode(records)
        except ValueError as exc:
            errors[name] = str(exc)
    threads = [threading.Thread(target=client, args=item) for item in groups.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return out, errors


def test_concurrent_callers_share_forwards_and_get_their_own_rows():
    calls = []
    batcher = MicroBatcher(_encode(calls), max_batch=64, max_wait_ms=200)
    groups = {f'c{i}': [dict(id=f'c{i}-{j}', value=10 * i + j) for j in range(i % 3 + 1)] for i in range(12)}
    out, errors = _concurrently(batcher, groups)
    batcher.close()
    assert not errors
    for name, records in groups.items():
        np.testing.assert_array_equal(out[name][:, 0], [r['value'] for r in records])
    assert len(calls) < 12   # batched: fewer forwards than callers
    assert sorted(i for call in calls for i in call) == sorted(r['id'] for rs in groups.values() for r in rs)
    assert batcher.records == sum(len(r) for r in groups.values()) and batcher.mean_batch > 1


def test_max_batch_caps_a_forward():
    calls = []
    batcher = MicroBatcher(_encode(calls), max_batch=4, max_wait_ms=100)
    groups = {f'c{i}': [dict(id=f'c{i}', value=i)] for i in range(10)}
    out, _ = _concurrently(batcher, groups)
    batcher.close()
    assert len(out) == 10 and max(len(call) for call in calls) <= 4


def test_a_bad_record_fails_only_its_caller():
    calls = []
    batcher = MicroBatcher(_encode(calls), max_batch=32, max_wait_ms=200)
    groups = {f'c{i}': [dict(id=f'c{i}', value=i, bad=(i == 3))] for i in range(6)}
    out, errors = _concurrently(batcher, groups)
    batcher.close()
    assert errors == {'c3': 'unreadable record'}
    assert {name: float(v[0, 0]) for name, v in out.items()} == {f'c{i}': float(i) for i in range(6) if i != 3}


def test_closed_batcher_refuses_and_bad_settings_are_errors():
    batcher = MicroBatcher(_encode([]), max_batch=2, max_wait_ms=0)
    np.testing.assert_array_equal(batcher.encode([dict(id='a', value=1)]), [[1, 1, 1]])
    batcher.close()
    with pytest.raises(RuntimeError, match='closed'):
        batcher.encode([dict(id='a', value=1)])
    with pytest.raises(ValueError, match='max_batch'):
        MicroBatcher(_encode([]), max_batch=0)


def test_a_lone_client_does_not_wait_for_company():
    batcher = MicroBatcher(_encode([]), max_batch=32, max_wait_ms=2000)
    start = time.perf_counter()
    for value in range(3):
        batcher.encode([dict(id='a', value=value)])
    assert time.perf_counter() - start < 1.5   # three sequential requests, none waited the 2 s
    batcher.close()
