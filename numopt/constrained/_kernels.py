"""Numba kernels of the constrained-optimisation test problems.

Kernels assume clean input: C-contiguous float64 values, scipy's int32/int64 CSR index arrays and a
preallocated, zeroed output. Loop indices are unsigned (uint64), which lets LLVM drop the negative-index
wraparound test (see :mod:`numopt.linalg._kernels`).
"""

from __future__ import annotations

import numpy as np

from .._numba import jit


@jit
def csr_weighted_gram(indptr, indices, data, w, out):
    r"""out += :math:`X^\top \mathrm{diag}(w) X` for a CSR matrix X (upper triangle, then mirrored).

    One pass over the rows: row i adds :math:`w_i x_i x_i^\top`, i.e. :math:`s_i^2/2` updates for a row with
    :math:`s_i` stored entries, against the :math:`O(n_{\rm features}^2 N)` of a dense product.
    """
    for i in range(w.shape[0]):
        wi = w[i]
        start, stop = np.uint64(indptr[i]), np.uint64(indptr[i + 1])
        for a in range(start, stop):
            ja = np.uint64(indices[a])
            va = wi * data[a]
            for b in range(a, stop):
                jb = np.uint64(indices[b])
                if jb >= ja:
                    out[ja, jb] += va * data[b]
                else:
                    out[jb, ja] += va * data[b]
    n = out.shape[0]
    for j in range(n):
        for k in range(j + 1, n):
            out[k, j] = out[j, k]
