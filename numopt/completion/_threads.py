"""Row blocks of a compressed (CSR/CSC) structure run on a pool of Python threads.

numopt's kernels are compiled ``nogil``, so several Python threads run them truly in parallel. Splitting
the rows into blocks of about equal work (observations plus rows) and calling one *serial* kernel per
block replaces Numba's ``parallel=True`` twins: each kernel is compiled once, serially (a ``prange``
twin roughly doubles the compile time of a half-step kernel), and a sweep is no slower. Below
:data:`PARALLEL_WORK` observations, or with one thread, the kernel runs once in the calling thread over all
rows. The thread count is numopt's (``numopt.set_num_threads``,
i.e. Numba's).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["map_row_blocks", "row_blocks", "PARALLEL_WORK"]

#: Observations (plus rows) of one call from which the rows are split over threads (below, the thread
#: hand-offs cost more than they save, and on a loaded machine the call waits for its slowest thread).
PARALLEL_WORK = 50_000
#: Blocks per thread (some slack for rows of unequal cost).
BLOCKS_PER_THREAD = 2

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def _get_pool(threads: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < threads:
            old = _pool
            _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="numopt-rows")
            _pool_size = threads
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def _threads() -> int:
    from .._numba import get_num_threads

    return max(1, int(get_num_threads()))


def row_blocks(indptr: np.ndarray, n_blocks: int) -> np.ndarray:
    """Boundaries ``b[0] = 0 < ... < b[-1] = n_rows`` of at most ``n_blocks`` contiguous row blocks of about
    equal work (observations + rows)."""
    n_rows = indptr.shape[0] - 1
    work = indptr.astype(np.float64) + np.arange(n_rows + 1)
    targets = np.linspace(0.0, work[-1], n_blocks + 1)
    bounds = np.searchsorted(work, targets, side="left")
    bounds[0], bounds[-1] = 0, n_rows
    return np.unique(bounds)


def map_row_blocks(call, indptr: np.ndarray, *, parallel: bool | None = None) -> list:
    """``[call(lo, hi) for each row block [lo, hi)]``, the blocks covering all rows of ``indptr`` in order,
    run on the thread pool when ``parallel`` (default: at least :data:`PARALLEL_WORK` observations plus
    rows, and more than one thread). The first exception raised in a block is re-raised."""
    n_rows = indptr.shape[0] - 1
    threads = _threads()
    if parallel is None:
        parallel = int(indptr[-1]) + n_rows >= PARALLEL_WORK
    if not parallel or threads == 1 or n_rows < 2:
        return [call(0, n_rows)]
    bounds = row_blocks(indptr, BLOCKS_PER_THREAD * threads)
    pool = _get_pool(threads)
    futures = [pool.submit(call, int(bounds[b]), int(bounds[b + 1])) for b in range(bounds.shape[0] - 1)]
    return [f.result() for f in futures]
