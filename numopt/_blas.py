"""BLAS threading for solvers whose dense algebra is small.

OpenBLAS's threads cost more than they bring on matrices of a few hundred rows, and after each call they
spin, taking the cores from the Numba parallel kernel that follows. Measured on this project's 2-core
machine class: uranium RLDA (115 x 115 generalized eigenproblems, thousands of them) took 1.18 s wall
and 2.3 s CPU with OpenBLAS's 2 threads, 0.41 s with one; matrix completion 2000 x 2000, rank 10
(Numba row solves between thin QRs of 2000 x 10 factors) 0.213 s against 0.108 s. (Entropic OT, whose
BLAS calls are large matrix-vector products, is faster with the threads and keeps them.)
:func:`single_blas_thread` limits the BLAS libraries to one thread for the duration of a call
(through ``threadpoolctl``; without it, nothing changes).
"""

from __future__ import annotations

import contextlib

__all__ = ["single_blas_thread"]

_controller = None


@contextlib.contextmanager
def single_blas_thread():
    """Context manager (and decorator) limiting every loaded BLAS library to one thread inside it."""
    global _controller
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl is a core dependency
        yield
        return
    if _controller is None:
        _controller = ThreadpoolController()
    with _controller.limit(limits=1, user_api="blas"):
        yield
