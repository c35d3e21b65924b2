"""Fill Numba's on-disk cache for every kernel of :mod:`numopt.ot` (``numopt compile``).

Each kernel is called once on tiny inputs with exactly the argument types the solvers pass (C-order
float64 arrays, int64 ``indptr``, int32 ``indices``, Python floats, ints and bools), so a later solve
loads every specialization from the cache instead of compiling it. The CG kernels of
:mod:`numopt.linalg` that SNS's Newton steps use are compiled by one tiny SNS solve at the end.
"""

from __future__ import annotations

import numpy as np

__all__ = ["precompile"]


def precompile() -> None:
    """Compile (or load from the cache) every Numba kernel of the OT family."""
    from ..linalg._cg import cg_core
    from . import _kernels as K

    n, m = 3, 4
    M = np.linspace(0.0, 1.0, n * m).reshape(n, m)
    a, b = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    f, g = np.zeros(n), np.zeros(m)
    K.exp_into(np.linspace(-1.0, 1.0, 5), np.empty(5))
    # log-domain half-steps, with the shifted fallback sums (reg tiny against M: every plain sum underflows)
    for reg in (1.0, 1e-4):
        f[:], g[:] = 0.0, -10.0
        K.sinkhorn_rows(M, f, g, a, np.log(a), reg)
        K.sinkhorn_cols(M, f, g, b, reg, np.empty(m))
    # scaling domain: kernel, plan, sums, value histogram and selection, parallel and serial twins
    work = np.empty((n, m))
    u, v = np.ones(n), np.ones(m)
    chunk_mass = np.empty((K.HIST_CHUNKS, K.N_VALUE_BINS))
    chunk_count = np.empty((K.HIST_CHUNKS, K.N_VALUE_BINS), dtype=np.int64)
    pbuf, bbuf = np.empty((K.HIST_CHUNKS, m)), np.empty((K.HIST_CHUNKS, m), dtype=np.int64)
    indptr = np.empty(n + 1, dtype=np.int64)
    indices, data = np.empty(n * m, dtype=np.int32), np.empty(n * m)
    for entries in (K.PARALLEL_ENTRIES, 1):
        K.sized(K.kernel_into, entries)(M, np.zeros(n), np.zeros(m), 1.0, work)
        K.sized(K.scaled_histogram, entries)(work, u, v, chunk_mass, chunk_count, pbuf, bbuf)
        K.sized(K.scaled_select, entries)(work, u, v, 1, indptr, indices, data)
        K.plan_sums(work, M, np.empty(n), np.empty(m), 1.0)
        K.sized(K.scale_rows_cols, entries)(work, u, v)
    # the fused O(n + m) bookkeeping of a scaling-domain sweep
    K.divide_checked(a, np.ones(n), 1e-200, np.empty(n))
    K.column_error(v, np.ones(m), b, 1e-200)
    K.log_dot(a, u, b, v)
    # Newton system on the selected entries (both Schur complements)
    r, c = np.ones(n), np.ones(m)
    K.csr_product_into(indptr, indices, data, np.ones(m), False, np.empty(n))
    K.csr_product_into(indptr, indices, data, np.ones(n), True, np.empty(m))
    for cols in (True, False):
        K.schur_diagonal(indptr, indices, data, r, c, cols, np.empty(m if cols else n))
    K.schur_cols_matvec(indptr, indices, data, 1.0 / r, c, np.ones(m), np.empty(m))
    K.schur_rows_matvec(indptr, indices, data, 1.0 / c, r, np.ones(n), np.empty(m), np.empty(n))
    # the CG kernels of numopt.linalg, through the core the Newton steps call
    diag, out = np.arange(1.0, m + 1.0), np.empty(m)
    cg_core(lambda x: np.multiply(x, diag, out=out), np.ones(m), rtol=1e-12, maxiter=m)
    # point clouds (empirical_sinkhorn): half-steps, marginals, pair selection (count, fill) and the plan
    X, YT = np.linspace(0.0, 1.0, 2 * n).reshape(n, 2), np.linspace(0.0, 1.0, 2 * m).reshape(2, m)
    work = np.empty((2, m))
    K.cloud_rows(X, YT, np.zeros(n), np.zeros(m), a, np.log(a), 1.0, 0, np.empty(n), work)
    K.cloud_marginals(X, YT, np.zeros(n), np.zeros(m), 1.0, 0, np.empty(n), np.empty((2, m)), work)
    for level in (1e-3, 2.0):  # the Newton steps' pass: marginals with and without the pairs
        K.cloud_scan(X, YT, np.zeros(n), np.zeros(m), 1.0, 0, level, 2, np.empty(n), np.empty((2, m)), work,
                     np.empty(n, dtype=np.int64), np.array([0, 4]), np.array([4, 8]), indices, data)
    for fill in (False, True):
        K.cloud_select(X, YT, np.zeros(n), np.zeros(m), 1.0, 0, np.full(n, -np.inf), indptr, indices, data, fill,
                       work)
    K.cloud_plan(X, YT, np.zeros(n), np.zeros(m), 1.0, 0, np.empty((n, m)))
