"""Numba kernels of the shared linear-algebra layer.

Kernels assume clean input (validated by the public functions): C-contiguous float64 values,
int32 or int64 index arrays as scipy stores them, preallocated outputs. Sparse loops run over
unsigned (uint64) indices: Numba inserts a negative-index wraparound test for signed indices that
blocks vectorisation (measured 2-4x on this machine class).
"""

from __future__ import annotations

import numpy as np

from .._numba import jit, prange

# --------------------------------------------------------------------------------------------------
# CSR sparse matrix-vector products
# --------------------------------------------------------------------------------------------------


@jit
def csr_matvec_serial(indptr, indices, data, x, out):
    """out[i] = sum_k data[k] * x[indices[k]] over row i of a CSR matrix (serial)."""
    n_rows = out.shape[0]
    for i in range(n_rows):
        acc = 0.0
        for k in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
            acc += data[k] * x[np.uint64(indices[k])]
        out[i] = acc
    return out


@jit(parallel=True)
def csr_matvec_parallel(indptr, indices, data, x, out):
    """Parallel twin of :func:`csr_matvec_serial`: rows are split over the Numba threads."""
    n_rows = out.shape[0]
    for i in prange(n_rows):
        acc = 0.0
        for k in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
            acc += data[k] * x[np.uint64(indices[k])]
        out[i] = acc
    return out


@jit
def csr_rmatvec_serial(indptr, indices, data, y, out):
    """out = A^T y for a CSR matrix A (scatter over rows; ``out`` is zeroed first)."""
    out[:] = 0.0
    n_rows = y.shape[0]
    for i in range(n_rows):
        yi = y[i]
        for k in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
            out[np.uint64(indices[k])] += data[k] * yi
    return out
