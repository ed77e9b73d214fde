"""Dynamic micro-batching: concurrent requests' records are embedded together in one forward.

Each caller hands its records to :meth:`MicroBatcher.encode` and blocks; one worker thread takes
whatever is queued - and, while requests come concurrently, waits at most ``max_wait_ms`` after the
first record for more, up to ``max_batch`` records - runs the encoder once over all of them and hands
each caller its rows. When nothing is queued and no forward is running, a caller runs its own forward in
its own thread (no hand-off to the worker, no added wait): a lone client pays nothing for batching. A
record that makes the batch fail (unreadable media, a wrong field) is found by re-running that batch
one record at a time, so only its own request gets the error.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from typing import Any, Callable, List, Mapping, Sequence, Tuple

import numpy as np

logger = logging.getLogger(__name__)

EncodeFn = Callable[[List[Mapping[str, Any]]], np.ndarray]
_STOP = object()


class MicroBatcher:
    """Batches the records of concurrent callers into one ``encode_fn`` call.

    Args:
        encode_fn: records -> (N, D) float32 vectors, in order. Called only from the worker thread.
        max_batch: most records per forward. max_wait_ms: longest wait for more records after the first.
    """

    def __init__(self, encode_fn: EncodeFn, *, max_batch: int = 32, max_wait_ms: float = 5.0) -> None:
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError(f'max_batch must be >= 1 and max_wait_ms >= 0, got {max_batch}, {max_wait_ms}')
        self.encode_fn = encode_fn
        self.max_batch = int(max_batch)
        self.max_wait = float(max_wait_ms) / 1000.0
        self.batches = 0            # forwards run, for /health and the benchmark
        self.records = 0
        self._last_size = 0
        self._closed = False
        self._busy = threading.Lock()    # one forward at a time, the worker's or a caller's own
        self._stats = threading.Lock()
        self._queue: 'queue.Queue[Any]' = queue.Queue()
        self._worker = threading.Thread(target=self._run, name='m5mm-micro-batcher', daemon=True)
        self._worker.start()

    def encode(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """(len(records), D) vectors of one caller's records (blocks until its batch ran; re-raises its error)."""
        if self._closed:
            raise RuntimeError('the micro-batcher was closed')
        if self._queue.empty() and self._busy.acquire(blocking=False):   # idle: run it here, now
            try:
                vectors = self.encode_fn(list(records))
            finally:
                self._busy.release()
            self._count(len(records))
            return vectors
        futures = [self._submit(record) for record in records]
        return np.stack([future.result() for future in futures])

    def _submit(self, record: Mapping[str, Any]) -> 'Future[np.ndarray]':
        if not self._worker.is_alive():
            raise RuntimeError('the micro-batcher was closed')
        future: 'Future[np.ndarray]' = Future()
        self._queue.put((record, future))
        return future

    def close(self) -> None:
        """Stop the worker after the queued records are done."""
        self._closed = True
        self._queue.put(_STOP)
        self._worker.join(timeout=30)

    @property
    def mean_batch(self) -> float:
        """Records per forward so far."""
        return self.records / self.batches if self.batches else 0.0

    # ------------------------------------------------------------------ worker
    def _take_batch(self) -> Tuple[List[Tuple[Mapping[str, Any], Future]], bool]:
        """The next batch: what is queued now, then - only while traffic is concurrent (this or the last
        batch held more than one record) - what arrives within ``max_wait``. A lone client never waits."""
        first = self._queue.get()
        if first is _STOP:
            return [], True
        batch, deadline = [first], time.monotonic() + self.max_wait
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                if len(batch) == 1 and self._last_size <= 1:
                    break
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
            if item is _STOP:
                return batch, True
            batch.append(item)
        self._last_size = len(batch)
        return batch, False

    def _run(self) -> None:
        stop = False
        while not stop:
            batch, stop = self._take_batch()
            if batch:
                self._encode_batch(batch)

    def _encode_batch(self, batch: List[Tuple[Mapping[str, Any], Future]]) -> None:
        records = [record for record, _ in batch]
        try:
            with self._busy:
                vectors = self.encode_fn(records)
        except Exception as exc:   # one bad record: find it, so only its caller gets the error
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            for item in batch:
                self._encode_batch([item])
            return
        self._count(len(batch))
        for (_, future), vector in zip(batch, vectors):
            future.set_result(vector)

    def _count(self, records: int) -> None:
        with self._stats:
            self.batches += 1
            self.records += records
