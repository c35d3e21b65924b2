"""BLAS threading for solvers whose dense algebra is small.

OpenBLAS's threads cost more than they bring on matrices of a few hundred rows, and after each call they
spin, taking the cores from the Numba parallel kernel that follows. This concerns uranium RLDA
(115 x 115 generalized eigenproblems, thousands of them) and matrix completion (Numba row solves between
thin QRs of tall, rank-k factors). (Entropic OT, whose BLAS calls are large matrix-vector products, gains
from the threads and keeps them.)
:func:`single_blas_thread` limits the BLAS libraries to one thread for the duration of a call
(through ``threadpoolctl``; without it, nothing changes).

A BLAS library's thread count is process-wide state, so the context is reference-counted under a lock:
the first of any number of overlapping calls (from any threads) sets the limit, the last one to leave
restores the counts found by the first. (A per-call save/restore is wrong with threads: a call entering
while another is inside saves the limit of 1 as "original" and, leaving last, restores it for good.)
While any call is inside, every thread of the process sees one BLAS thread. (threadpoolctl >= 3.6 lets
only one "controlling" thread change OpenBLAS's pthreads pool and silently ignores the others; since the
first and the last call may run in different threads, each change here is made as the controlling thread
and control is released right after.)
"""

from __future__ import annotations

import contextlib
import threading

__all__ = ["single_blas_thread"]

_lock = threading.Lock()
_controller = None
#: Number of calls inside the context, over all threads (guarded by ``_lock``).
_depth = 0
#: threadpoolctl's limiter of the outermost entry (restores the original counts), or None.
_limiter = None


def _get_controller():
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - threadpoolctl is a core dependency
            return None
        _controller = ThreadpoolController()
    return _controller


def _release_control():
    try:
        from threadpoolctl import OpenBLASController
    except ImportError:  # pragma: no cover
        return
    clear = getattr(OpenBLASController, "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)


class _SingleBlasThread(contextlib.ContextDecorator):
    def __enter__(self):
        global _depth, _limiter
        with _lock:
            if _depth == 0:
                controller = _get_controller()
                if controller is not None:
                    _release_control()
                    try:
                        _limiter = controller.limit(limits=1, user_api="blas")
                    finally:
                        _release_control()
            _depth += 1
        return self

    def __exit__(self, *exc_info):
        global _depth, _limiter
        with _lock:
            _depth -= 1
            if _depth == 0 and _limiter is not None:
                limiter, _limiter = _limiter, None
                _release_control()
                try:
                    limiter.restore_original_limits()
                finally:
                    _release_control()
        return False


def single_blas_thread():
    """Context manager (and decorator) limiting every loaded BLAS library to one thread inside it.

    Reference-counted and thread-safe: overlapping uses (nested, or from several threads at once) share
    one limit, set by the first to enter and lifted by the last to leave.
    """
    return _SingleBlasThread()
