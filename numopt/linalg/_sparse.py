"""Sparse matrix-vector products on Numba kernels."""

from __future__ import annotations

import numpy as np

from .._validation import as_float_array, as_operator, fail

__all__ = ["csr_matvec", "PARALLEL_NNZ"]

#: Below this many stored entries the serial kernel is used (thread wake-up costs more than it saves).
PARALLEL_NNZ = 500_000


def csr_matvec(A, x, out=None, *, transpose: bool = False):
    r"""Sparse matrix-vector product :math:`y = A x` (or :math:`y = A^\top x`) on a Numba kernel.

    Parameters
    ----------
    A : scipy sparse matrix or array, shape (m, n)
        Converted to CSR float64 once if it is in another format (no densification).
    x : array_like, shape (n,) (or (m,) with ``transpose``)
    out : ndarray, optional
        Preallocated float64 output of the right length; it must not overlap ``x`` (ValueError).
    transpose : bool, default False
        Compute :math:`A^\top x` (a serial scatter over the rows of ``A``).

    Returns
    -------
    ndarray
        The product, float64. Like ``A @ x``, no NaN/inf scan is made: non-finite input gives
        non-finite output.

    Notes
    -----
    The kernel loops over unsigned indices, which lets LLVM vectorise the gather; above
    :data:`PARALLEL_NNZ` stored entries the rows are split over Numba's threads.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> A = sp.csr_array(np.array([[1.0, 0.0], [2.0, 3.0]]))
    >>> csr_matvec(A, np.array([1.0, 1.0]))
    array([1., 5.])
    """
    func = "csr_matvec"
    A, kind = as_operator(A, "A", func, finite=False, canonical=False)
    if kind != "sparse":
        raise fail(func, "A", "be a scipy sparse matrix", f"a {kind} {type(A).__name__}", error=TypeError)
    m, n = A.shape
    x = as_float_array(x, "x", func, ndim=1, finite=False)
    n_in, n_out = (m, n) if transpose else (n, m)
    if x.shape[0] != n_in:
        raise fail(func, "x", f"have length {n_in} to match `A` of shape {A.shape}", f"length {x.shape[0]}")
    if out is None:
        out = np.empty(n_out, dtype=np.float64)
    elif not (isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == (n_out,) and out.flags.c_contiguous):
        raise fail(func, "out", f"be a C-contiguous float64 array of shape ({n_out},)", repr(getattr(out, "shape", out)))
    elif np.shares_memory(out, x):
        # the kernels write out[i] while still reading x: an aliased product is silently wrong
        raise fail(func, "out", "not overlap `x` (the product reads `x` while it writes `out`)",
                   "an array sharing memory with `x`")
    from . import _kernels

    if transpose:
        kernel = _kernels.csr_rmatvec_serial
    else:
        kernel = _kernels.csr_matvec_parallel if A.nnz >= PARALLEL_NNZ else _kernels.csr_matvec_serial
    try:
        kernel(A.indptr, A.indices, A.data, x, out)
    except SystemError as exc:
        # These kernels return `out` (other families use the value); boxing it calls into Python, where a
        # pending Ctrl-C is raised inside the compiled call and surfaces as SystemError. Deliver it as a
        # KeyboardInterrupt (the product is discarded either way).
        if isinstance(exc.__cause__, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        raise
    return out
