"""DataLoader worker set-up: one compute thread per worker process.

PyTorch gives each worker one intra-op thread, but numpy's BLAS and OpenMP pools keep one
thread per core; with several workers on few cores the decoders (librosa's mel filter bank,
resizing) then run several times slower. The datasets call :func:`limit_worker_threads`
once in each worker process; ``worker_init_fn`` does the same for other datasets.
"""
from __future__ import annotations

from torch.utils.data import get_worker_info


def limit_worker_threads() -> bool:
    """Limit BLAS/OpenMP pools to one thread if running in a DataLoader worker.

    Returns:
        Whether this process is a worker (and was limited).
    """
    if get_worker_info() is None:
        return False
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)
    return True


def worker_init_fn(worker_id: int) -> None:
    """A DataLoader ``worker_init_fn`` that calls :func:`limit_worker_threads`."""
    limit_worker_threads()
