"""Fill Numba's on-disk cache for every kernel of :mod:`numopt.completion` (for ``numopt compile``)."""

from __future__ import annotations

import warnings

import numpy as np


def precompile() -> None:
    """Compile (or load from the cache) every completion kernel, with the argument types the public
    functions give them: sorting the observations, the randomized start, the exact (with its minimum-norm
    fallback), CG and sketched (sparse sign and SRHT) row solvers, the residual and entrywise prediction.
    Takes well under a second once the cache is warm. (Kernels are serial; the row blocks run on Python threads, so there are no parallel
    twins to compile. Matrices with 2**31 rows or columns or more use int64 indices, compiled on first use.)"""
    from ._altmin import complete_matrix

    rng = np.random.default_rng(0)
    m, n, k = 12, 10, 2
    M = rng.standard_normal((m, k)) @ rng.standard_normal((k, n))
    rows, cols = np.nonzero(rng.random((m, n)) < 0.8)
    X = (rows, cols, M[rows, cols], (m, n))
    runs = [dict(solver="exact"), dict(solver="cg"), dict(solver="sketch"), dict(solver="sketch", sketch="srht"),
            dict(solver="exact", reg=0.1, split=True, maxiter=1),
            dict(solver="exact", reg=0.1, reg_scale="counts", center="biases"),
            dict(reg="auto", center="biases")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # a tiny problem: underdetermined and convergence warnings
        for kwargs in runs:
            kwargs.setdefault("maxiter", 2)
            res = complete_matrix(X, k, rng=0, **kwargs)
        res.predict(np.arange(3), np.arange(3))
        # a row with a single observation at k = 2: the minimum-norm fallback kernel (rows_min_norm)
        keep = (rows != 0) | (cols == cols[rows == 0][0])
        complete_matrix((rows[keep], cols[keep], M[rows[keep], cols[keep]], (m, n)), k, solver="exact", maxiter=1,
                        rng=0)
